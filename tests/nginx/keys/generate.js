// Generates the test signing keys (private PEMs) and the public JWKS the nginx tests load
// with sso_jwks_file. Run once: `node generate.js`; the outputs are committed.
const crypto = require('crypto');
const fs = require('fs');
const keys = [];
function add(kid, type, opts, alg) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync(type, opts);
  fs.writeFileSync(`${kid}.pem`, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const jwk = publicKey.export({ format: 'jwk' });
  keys.push({ ...jwk, kid, use: 'sig', ...(alg ? { alg } : {}) });
}
add('rsa-1', 'rsa', { modulusLength: 2048 });
add('ec-p256', 'ec', { namedCurve: 'P-256' }, 'ES256');
add('ec-p384', 'ec', { namedCurve: 'P-384' }, 'ES384');
add('ed-1', 'ed25519', {}, 'EdDSA');
const secret = crypto.randomBytes(48);
fs.writeFileSync('hmac.key', secret.toString('base64url'));
keys.push({ kty: 'oct', kid: 'hmac-1', k: secret.toString('base64url'), use: 'sig' });
fs.writeFileSync('jwks.json', JSON.stringify({ keys }, null, 2) + '\n');
fs.writeFileSync('rsa-1.pub.pem', crypto.createPublicKey(fs.readFileSync('rsa-1.pem')).export({ format: 'pem', type: 'spki' }));
// A second RSA key that is NOT in the JWKS (tokens signed with it must be refused).
const other = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
fs.writeFileSync('rsa-unknown.pem', other.privateKey.export({ format: 'pem', type: 'pkcs8' }));
