module twinsnap.dev/peers/webhook-backend

go 1.25.0
