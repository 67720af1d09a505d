import type { Config } from '@wegent-codex/contracts';

/** Config variables whose whole value is a secret of the service. */
export const SERVICE_SECRET_VARS = [
  'SECRETS_KEY',
  'GIT_TOKEN_AES_KEY',
  'GIT_TOKEN_AES_IV',
  'API_TOKEN',
  'BOARD_PASSWORD',
  'OPENAI_API_KEY',
  'REDIS_PASSWORD',
] as const;
/** Config variables that are URLs and may carry a password (`redis://:pw@host`, `https://user:pw@em`). */
export const SERVICE_URL_VARS = ['REDIS_URL', 'CALLBACK_URL', 'OPENAI_BASE_URL', 'TASK_API_DOMAIN', 'OTEL_EXPORTER_OTLP_ENDPOINT'] as const;
/**
 * Values that are defaults everybody knows (Wegent's public AES key and IV): masking them would
 * only garble digit runs in ordinary text, and they protect nothing.
 */
const PUBLIC_DEFAULTS = new Set(['12345678901234567890123456789012', '1234567890123456']);

const decode = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

/**
 * Every secret of the service's own configuration, for the masker: whole values of the secret
 * variables and the passwords (raw and decoded) in URL variables. Combined with a run's payload
 * secrets into the run's one secret set, and given to the logger of every role.
 */
export function serviceSecretsOf(config: Partial<Config> & Record<string, unknown>): string[] {
  const found = new Set<string>();
  for (const name of SERVICE_SECRET_VARS) {
    const value = config[name];
    if (typeof value === 'string' && value.trim() && !PUBLIC_DEFAULTS.has(value)) found.add(value);
  }
  for (const name of SERVICE_URL_VARS) {
    const value = config[name];
    if (typeof value !== 'string') continue;
    try {
      const { password } = new URL(value);
      if (password) {
        found.add(password);
        found.add(decode(password));
      }
    } catch {
      // Not a URL: nothing to take from it.
    }
  }
  return [...found];
}
