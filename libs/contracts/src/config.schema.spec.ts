import { ConfigError, loadConfig } from './config.schema';
import { isTraceparent } from './trace-context';

describe('config: operations variables', () => {
  it('METRICS_PORT is off by default, a port when set, and a bad value names the variable', () => {
    expect(loadConfig({}).METRICS_PORT).toBeUndefined();
    expect(loadConfig({ METRICS_PORT: '9464' }).METRICS_PORT).toBe(9464);
    expect(() => loadConfig({ METRICS_PORT: '70000' })).toThrow(/^METRICS_PORT: /);
  });

  it('BOARD_USER and BOARD_PASSWORD come together or not at all', () => {
    expect(loadConfig({ BOARD_USER: 'ops', BOARD_PASSWORD: 'secret-1' })).toMatchObject({ BOARD_USER: 'ops', BOARD_PASSWORD: 'secret-1' });
    expect(loadConfig({ BOARD_USER: '', BOARD_PASSWORD: '' }).BOARD_USER).toBeUndefined();
    const error = (() => {
      try {
        loadConfig({ BOARD_USER: 'ops' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([{ variable: 'BOARD_PASSWORD', message: 'BOARD_USER and BOARD_PASSWORD must be set together' }]);
    expect(() => loadConfig({ BOARD_PASSWORD: 'secret-1' })).toThrow(/^BOARD_USER: /);
  });
});

describe('isTraceparent', () => {
  it.each([
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', true],
    ['01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00', true],
    ['ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', false],
    ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', false],
    ['00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', false],
    ['00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX: y', false],
    [undefined, false],
  ])('%j → %s', (value, valid) => {
    expect(isTraceparent(value)).toBe(valid);
  });
});
