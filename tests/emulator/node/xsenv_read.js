// Reads the emulator's written bindings with @sap/xsenv three ways: VCAP_SERVICES_FILE_PATH, the SAP BTP
// service operator tree under SERVICE_BINDING_ROOT, and default-env.json through loadEnv().
// argv[2]: the directory the emulator wrote its keys into.
// stdout: {"<way>": {"<query>": <credentials>}}
"use strict";
const path = require("path");
const xsenv = require("@sap/xsenv");

const dir = process.argv[2];
const query = {
  cis: { label: "cis" },
  audit_log: { label: "auditlog-management" },
  service_manager: { tag: "service-manager" },
  resource_consumption: { label: "uas" },
  xsuaa: { tag: "xsuaa" },
};

function clearEnv() {
  delete process.env.VCAP_SERVICES;
  delete process.env.VCAP_SERVICES_FILE_PATH;
  delete process.env.SERVICE_BINDING_ROOT;
}

const out = {};
clearEnv();
process.env.VCAP_SERVICES_FILE_PATH = path.join(dir, "VCAP_SERVICES.json");
out.vcap_services_file = xsenv.getServices(query, null);

clearEnv();
process.env.SERVICE_BINDING_ROOT = path.join(dir, "bindings");
out.service_binding_root = xsenv.getServices(query, null);

clearEnv();
xsenv.loadEnv(path.join(dir, "default-env.json"));
out.default_env = xsenv.getServices(query, null);

process.stdout.write("\n" + JSON.stringify(out));
