// A browser without JavaScript for the self test and the demo check: plain fetch, a cookie
// jar (host-only cookies by host name, path matching, expiry), redirects followed by hand,
// and HTML form parsing. No dependencies.

export class Jar {
  cookies = new Map(); // `${host}\0${name}\0${path}` -> { host, name, value, path }

  store(res, url) {
    const u = new URL(url);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = u.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        const key = k.toLowerCase();
        if (key === 'path') path = v || '/';
        if (key === 'max-age' && Number(v) <= 0) expired = true;
        if (key === 'expires' && Date.parse(v.replace(/-/g, ' ')) <= Date.now()) expired = true;
        if (key === 'secure' && u.protocol === 'http:') throw new Error(`Secure cookie over http: ${line}`);
      }
      const id = `${u.hostname}\0${name}\0${path}`;
      if (expired) this.cookies.delete(id); else this.cookies.set(id, { host: u.hostname, name, value, path });
    }
  }

  header(url) {
    const u = new URL(url);
    const match = (p) => u.pathname === p || u.pathname.startsWith(p.endsWith('/') ? p : `${p}/`);
    return [...this.cookies.values()].filter((c) => c.host === u.hostname && match(c.path))
      .sort((a, b) => b.path.length - a.path.length)
      .map((c) => `${c.name}=${c.value}`).join('; ');
  }

  get(name) {
    return [...this.cookies.values()].find((c) => c.name === name)?.value;
  }
}

// One request, no redirect following; cookies from and to `jar` when given.
export async function go(jar, url, { method = 'GET', form, headers = {} } = {}) {
  const u = new URL(url);
  const h = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8', ...headers };
  const cookie = jar?.header(u.href);
  if (cookie) h.cookie = cookie;
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(u, { method, headers: h, body, redirect: 'manual' });
  jar?.store(res, u.href);
  const text = await res.text();
  return { status: res.status, location: res.headers.get('location'), headers: res.headers, text, url: u };
}

// Follows redirects (relative Locations resolved) until a page is rendered, or until one
// leaves `origin` when given (then `next` is that URL, not fetched). `hops` lists the URLs.
export async function follow(jar, url, origin, opts) {
  let r = await go(jar, url, opts);
  const hops = [`${r.status} ${url}`];
  for (let i = 0; i < 20 && r.status >= 300 && r.status < 400 && r.location; i++) {
    const next = new URL(r.location, r.url);
    if (origin && next.origin !== origin) return { ...r, next, hops };
    r = await go(jar, next.href);
    hops.push(`${r.status} ${next.href}`);
  }
  return { ...r, hops };
}

const unescape = (s) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

// All forms of a page: { action (absolute), method, fields {name: value} }.
export function parseForms(html, base) {
  const attr = (s, n) => {
    const m = new RegExp(`\\b${n}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(s);
    return m ? unescape(m[1] ?? m[2] ?? m[3]) : undefined;
  };
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)].map((m) => {
    const fields = {};
    for (const input of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const name = attr(input[1], 'name');
      const type = (attr(input[1], 'type') ?? 'text').toLowerCase();
      if (name && !['submit', 'button', 'image'].includes(type)) fields[name] = attr(input[1], 'value') ?? '';
    }
    return {
      action: new URL(attr(m[1], 'action') ?? '', base).href,
      method: (attr(m[1], 'method') ?? 'get').toUpperCase(),
      fields,
    };
  });
}

export function parseForm(html, base) {
  const forms = parseForms(html, base);
  if (!forms.length) throw new Error(`no form in page ${base}:\n${html}`);
  return forms[0];
}
