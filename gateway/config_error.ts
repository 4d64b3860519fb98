/** The error a bad configuration value raises at startup, shared by every parser of the gateway's settings. */

/** A bad configuration value; the message names the variable (and field) and the value. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}
