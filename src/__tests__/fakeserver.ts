// A Jupyter server for unit tests: ServerConnection settings whose fetch
// records each request and answers as the test says.
import { ServerConnection } from '@jupyterlab/services';

/** Server settings whose fetch records each request and answers with `answer`. */
export function fakeServer(
  answer: (request: Request) => Promise<Response> | Response,
  baseUrl = 'http://lab.test/user/alice/'
): { settings: ServerConnection.ISettings; requests: Request[] } {
  const requests: Request[] = [];
  const settings = ServerConnection.makeSettings({
    baseUrl,
    token: '',
    fetch: async (input: RequestInfo | URL) => {
      const request = input as Request;
      requests.push(request);
      return answer(request);
    }
  });
  return { settings, requests };
}

/** The path of a recorded request, without the no-store cache buster. */
export function pathOf(request: Request): string {
  const url = new URL(request.url);
  return url.pathname + url.search.replace(/[?&]\d+$/, '');
}

/** A JSON response. */
export const json = (status: number, body: unknown): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' }
  });

// jsdom has no AbortSignal.timeout; these tests never wait that long.
if (!('timeout' in AbortSignal)) {
  (AbortSignal as any).timeout = () => new AbortController().signal;
}
