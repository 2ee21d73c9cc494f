// What an apiserver said when it refused a request, in its own words: the message of the Status object it sends
// (`{"kind":"Status","message":"...","reason":"Forbidden"}`), else the text of the answer, else the HTTP status.
export function apiErrorMessage(status: number, body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (parsed && typeof parsed === "object" && typeof parsed.message === "string") return parsed.message;
  } catch {
    /* not JSON: the text itself */
  }
  return body.trim() || `HTTP ${status}`;
}
