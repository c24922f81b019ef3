import pkg from "../package.json";

/** The package version, embedded at build time. */
export const VERSION: string = pkg.version;
