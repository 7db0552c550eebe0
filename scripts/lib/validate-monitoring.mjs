// Validates prometheus-operator objects (ServiceMonitor, PodMonitor, PrometheusRule) against
// the OpenAPI schemas of the operator's CRDs, as compiled by @kubernetes-models/prometheus-operator.
// Reads a JSON array of objects on standard input; prints one line per invalid object and
// exits 1 if any. Types, patterns, enums and required fields are checked; the CRD schemas allow
// unknown fields (the API server prunes them), so a misspelt optional field passes here.
// Usage: node validate-monitoring.mjs NODE_MODULES_DIR < objects.json   (scripts/check-chart)
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const modules = process.argv[2];
const base = join(modules, "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1");
const kinds = {};
for (const kind of ["ServiceMonitor", "PodMonitor", "PrometheusRule"]) {
  kinds[kind] = (await import(pathToFileURL(join(base, `${kind}.js`)).href))[kind];
}

const objects = JSON.parse(readFileSync(0, "utf8"));
let bad = 0;
for (const obj of objects) {
  const name = `${obj.kind}/${obj.metadata?.name}`;
  const Model = kinds[obj.kind];
  if (!Model || obj.apiVersion !== "monitoring.coreos.com/v1") {
    console.log(`${name}: not a monitoring.coreos.com/v1 ServiceMonitor, PodMonitor or PrometheusRule`);
    bad++;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`${name}: valid`);
  } catch (e) {
    console.log(`${name}: ${e.message}`);
    bad++;
  }
}
process.exit(bad ? 1 : 0);
