export * from "./config.js";
export * from "./duration.js";
export * from "./edit.js";
export * from "./json-schema.js";
export * from "./load.js";
export * from "./rules.js";
export * from "./schema.js";
export * from "./types.js";
