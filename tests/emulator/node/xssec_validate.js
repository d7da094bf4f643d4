// Validates emulator tokens with @sap/xssec, as an app bound to the emulator's XSUAA would.
// stdin: {"credentials": {...xsuaa key...}, "tokens": {"<name>": "<jwt>", ...}}
// stdout: {"<name>": {"ok": true, ...what the security context reads} | {"ok": false, "error": "<class>"}}
"use strict";
const { XsuaaService } = require("@sap/xssec");

async function main() {
  const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
  const service = new XsuaaService(input.credentials);
  const out = {};
  for (const [name, token] of Object.entries(input.tokens)) {
    try {
      const ctx = await service.createSecurityContext(token);
      const user = ctx.token.grantType !== "client_credentials";
      out[name] = {
        ok: true,
        clientId: ctx.getClientId(),
        grantType: ctx.token.grantType,
        zoneId: ctx.getZoneId(),
        subaccountId: ctx.getSubaccountId(),
        subdomain: ctx.getSubdomain(),
        email: user ? ctx.getEmail() : null,
        logonName: user ? ctx.getLogonName() : null,
        origin: ctx.getOrigin(),
        scopes: ctx.token.scopes,
      };
    } catch (err) {
      out[name] = { ok: false, error: err.constructor.name, message: String(err.message).slice(0, 300) };
    }
  }
  process.stdout.write("\n" + JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack));
  process.exit(1);
});
