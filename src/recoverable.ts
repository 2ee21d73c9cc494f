// The one marker retry logic reads (in the spirit of etcd3's isRecoverableError): an error whose `recoverable` is
// true may pass if the step is tried again (a network error, a 5xx, throttling, a member restarting); any other
// error will not, and retrying it only delays telling the operator.
export interface Recoverable {
  readonly recoverable: boolean;
}

export function isRecoverable(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as Partial<Recoverable>).recoverable === true;
}
