import type { Config } from '@wegent-codex/contracts';
import { createSecretMasker, isSecretName, secretValuesByKey, serviceSecretsOf, type SecretMasker } from '@wegent-codex/redaction';
import type { HttpRequest } from './http-types';

/**
 * The masker for what a failed request may put in a log line: the secrets it carried (its bearer
 * token, every value under a secret name in its JSON body) and the service's own.
 */
export function requestMasker(req: HttpRequest, config: Partial<Config>): SecretMasker {
  const secrets = secretValuesByKey(req.body, isSecretName);
  const auth = req.headers.authorization;
  if (typeof auth === 'string') secrets.add(auth.replace(/^(?:Bearer|Basic) +/i, '').trim());
  return createSecretMasker([...secrets, ...serviceSecretsOf(config)]);
}
