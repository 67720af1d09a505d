import { passedServiceEnv, proxyVariablesWithCredentials } from './codex-home';

describe('passedServiceEnv: what of the service environment a Codex process gets', () => {
  const service = {
    LANG: 'C.UTF-8',
    TZ: 'Asia/Shanghai',
    HTTPS_PROXY: 'http://svc-user:Pr0xy%2Fsecret@proxy.internal:3128',
    http_proxy: 'http://proxy.internal:3128',
    HTTP_PROXY: 'not a url @ all',
    NO_PROXY: 'localhost,.cluster.local',
    REDIS_URL: 'redis://:redis-pass@redis:6379',
    OPENAI_API_KEY: 'sk-service-key',
    PATH: '/usr/bin',
  };

  it('passes locale and proxy addresses, never a proxy credential, nothing else of the service', () => {
    expect(passedServiceEnv(service)).toEqual({
      LANG: 'C.UTF-8',
      TZ: 'Asia/Shanghai',
      HTTPS_PROXY: 'http://proxy.internal:3128/',
      http_proxy: 'http://proxy.internal:3128',
      NO_PROXY: 'localhost,.cluster.local',
    });
  });

  it('names the proxy variables whose credentials were kept back (a value that is not a URL counts)', () => {
    expect(proxyVariablesWithCredentials(service).sort()).toEqual(['HTTPS_PROXY', 'HTTP_PROXY']);
    expect(proxyVariablesWithCredentials({ https_proxy: 'http://proxy:8080' })).toEqual([]);
  });
});
