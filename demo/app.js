// The demo upstream: shows what nginx (ngx_http_sso_module) told it about the user.
//
//   node demo/app.js PORT
//
// Renders every X-authentik-* request header (and, folded, every other header: the
// user's additionalHeaders such as X-Custom land there), HTML-escaped, with a sign-out link.
// No dependencies; listens on 127.0.0.1 only.

import http from 'node:http';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node demo/app.js PORT');
  process.exit(2);
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const rows = (pairs) => pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td><code>${esc(v)}</code></td></tr>`).join('\n');

function render(req) {
  const pairs = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  const ak = pairs.filter(([k]) => k.toLowerCase().startsWith('x-authentik-'));
  const other = pairs.filter(([k]) => !k.toLowerCase().startsWith('x-authentik-'));
  const user = ak.find(([k]) => k.toLowerCase() === 'x-authentik-username')?.[1];
  const who = user ? `Signed in as <strong>${esc(user)}</strong>` : 'No identity headers: this request was not authenticated by nginx.';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ngx_http_sso_module demo</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:56em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{white-space:nowrap;width:1%}code{word-break:break-all}</style></head>
<body>
<h1>ngx_http_sso_module demo app</h1>
<p>${who}</p>
<p><a href="/outpost.goauthentik.io/sign_out">sign out</a></p>
<h2>X-authentik-* headers (${ak.length})</h2>
<table>
${rows(ak)}
</table>
<details><summary>All other request headers (${other.length})</summary>
<table>
${rows(other)}
</table>
</details>
<p><small>${esc(req.method)} ${esc(req.url)}</small></p>
</body></html>
`;
}

http.createServer((req, res) => {
  const body = render(req);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}).listen(port, '127.0.0.1', () => {
  console.error(`demo app on http://127.0.0.1:${port}`);
});
