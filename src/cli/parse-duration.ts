// Durations on the command line, as Go programs (Velero, kubectl) write them: see parse-flags.ts.
export { parseDuration } from "./parse-flags.js";
