// A small admission webhook backend for the real-node tests, run as a Pod from an image built here
// (scripts/build-images.mjs, image "webhook-backend"). Serves HTTPS with the certificate in $TLS_DIR:
//
//	POST /validate  AdmissionReview: refuses objects labelled twinsnap.test/deny=true, admits the rest
//	POST /mutate    AdmissionReview: admits, adding the annotation twinsnap.test/admitted-by=<this Pod>
//	GET  /healthz   200
//
// Standard library only: no Kubernetes module needed for the two JSON documents it reads and writes.
package main

import (
	"encoding/base64"
	"encoding/json"
	"log"
	"net/http"
	"os"
)

type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID    string          `json:"uid"`
	Object json.RawMessage `json:"object"`
}

type response struct {
	UID       string  `json:"uid"`
	Allowed   bool    `json:"allowed"`
	Status    *status `json:"status,omitempty"`
	PatchType string  `json:"patchType,omitempty"`
	Patch     string  `json:"patch,omitempty"`
}

type status struct {
	Message string `json:"message"`
	Code    int    `json:"code"`
}

type object struct {
	Metadata struct {
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
}

func handle(mutate bool) http.HandlerFunc {
	pod, _ := os.Hostname()
	return func(w http.ResponseWriter, r *http.Request) {
		var in review
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
			http.Error(w, "not an AdmissionReview", http.StatusBadRequest)
			return
		}
		var obj object
		_ = json.Unmarshal(in.Request.Object, &obj)
		resp := &response{UID: in.Request.UID, Allowed: true}
		if !mutate && obj.Metadata.Labels["twinsnap.test/deny"] == "true" {
			resp.Allowed = false
			resp.Status = &status{Message: "denied by the twinsnap test webhook (label twinsnap.test/deny=true)", Code: 403}
		}
		if mutate {
			var ops []map[string]any
			if obj.Metadata.Annotations == nil {
				ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations", "value": map[string]string{}})
			}
			ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations/twinsnap.test~1admitted-by", "value": pod})
			patch, _ := json.Marshal(ops)
			resp.PatchType = "JSONPatch"
			resp.Patch = base64.StdEncoding.EncodeToString(patch)
		}
		log.Printf("%s uid=%s allowed=%v", r.URL.Path, in.Request.UID, resp.Allowed)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review{APIVersion: in.APIVersion, Kind: in.Kind, Response: resp})
	}
}

func main() {
	dir := os.Getenv("TLS_DIR")
	if dir == "" {
		dir = "/tls"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", handle(false))
	mux.HandleFunc("/mutate", handle(true))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Printf("webhook-backend: serving on :8443 with %s/tls.crt", dir)
	log.Fatal(http.ListenAndServeTLS(":8443", dir+"/tls.crt", dir+"/tls.key", mux))
}
