// What went wrong in an apiserver call, in words an operator can act on.
export interface ApiFailure {
  /** HTTP status, when the server answered. */
  status?: number;
  reason?: string;
  message: string;
}

export function describeApiError(err: unknown): ApiFailure {
  const e = err as { code?: unknown; body?: unknown; message?: unknown; cause?: { code?: string } };
  const status = typeof e?.code === "number" ? e.code : undefined;
  let body: unknown = e?.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {
      /* keep the text */
    }
  }
  if (body && typeof body === "object" && "message" in body) {
    const b = body as { message?: unknown; reason?: unknown };
    return { ...(status ? { status } : {}), ...(typeof b.reason === "string" ? { reason: b.reason } : {}), message: String(b.message) };
  }
  if (typeof body === "string" && body.trim() !== "") return { ...(status ? { status } : {}), message: body.trim() };
  const text = err instanceof Error ? err.message : String(err);
  return { ...(status ? { status } : {}), message: text };
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 404;
}
