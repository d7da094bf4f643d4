// SAP Cloud SDK fetches a client-credentials token from the bindings the emulator wrote (VCAP_SERVICES in the
// environment) and calls the Accounts API with it.
// stdout: {"xsuaaToken": "<jwt>", "cisToken": "<jwt>", "status": 200, "globalAccount": "<guid>"}
"use strict";
const { serviceToken, getServiceBinding } = require("@sap-cloud-sdk/connectivity");

async function main() {
  const xsuaaToken = await serviceToken("xsuaa", { enableCircuitBreaker: false });
  // the cis binding carries its UAA credentials one level down, as SAP's cis keys do
  const cis = getServiceBinding("cis");
  const cisToken = await serviceToken(
    { ...cis, credentials: cis.credentials.uaa },
    { enableCircuitBreaker: false, useCache: false },
  );
  const url = cis.credentials.endpoints.accounts_service_url + "/accounts/v1/globalAccount";
  const response = await fetch(url, { headers: { Authorization: `Bearer ${cisToken}` } });
  const body = await response.json();
  process.stdout.write("\n" + JSON.stringify({ xsuaaToken, cisToken, status: response.status, globalAccount: body.guid }));
}

main().catch((err) => {
  process.stderr.write(String(err && (err.stack || err.message)));
  if (err && err.cause) process.stderr.write("\ncause: " + String(err.cause.stack || err.cause));
  process.exit(1);
});
