/** twinsnap's version, recorded in pair records and reported by `twinsnap version`. */
export const VERSION = "0.1.0";
