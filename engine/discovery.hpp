#pragma once
// `aquaduct discover` (interfaces.md §8): the tenant's objects from describe
// (engine/tenant_schema.hpp), each checked against the export itself, and the
// ready pipeline `--write` writes.
//
// For each object: the fields describe marks exportable, with their Zuora
// types; whether it supports deleted rows; its replication column. Both are
// found by probe jobs, each a one-row job cancelled at once, as public AQuA
// clients probe (aqua-contract.md §1.9):
//   1. `select <every exportable field> from O limit 1` with a deleted spec:
//      accepted = every field exports and deleted rows are supported; 90017
//      = no deleted support (the same again without the spec).
//   2. A refusal naming one of the fields ("There is no field named X") drops
//      that field and probes again; one that names none is bisected, field
//      by field, down to the fields that are refused on their own. An object
//      whose `select Id` alone is refused is reported as refused, whole.
// Nothing is extracted: every job is cancelled right after its submit.
#include <aquaduct/config.hpp>
#include <aquaduct/engine.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aquaduct::engine_detail {

struct discovered_field {
  std::string name;
  std::string type;  // Zuora's describe type: text, decimal, datetime, ...
};

struct refused_field {
  std::string name;
  std::string reason;  // the service's refusal of the probe (errorCode and message)
};

struct discovered_object {
  std::string name, label;
  std::vector<discovered_field> fields;    // exportable and accepted by the export, in describe's order
  std::vector<std::string> not_exportable;  // listed by describe without the export context
  std::vector<std::string> related;         // describe's related objects (the relations a query may join)
  std::vector<discovered_field> exportable;  // every field describe marks exportable, in its order (before the probes)
  std::vector<refused_field> refused;       // exportable per describe, refused by the export's probe
  std::string replication_column;           // UpdatedDate, TransactionDate or UpdatedOn; empty: full loads
  std::optional<bool> deleted;              // deleted rows supported; nullopt: not known (refused object)
  std::string refused_object;               // the object itself refused (select Id): the service's reason
  unsigned probes = 0;                      // probe jobs submitted for it
};

struct discovery_options {
  std::vector<std::string> objects;  // empty: every object the tenant describes
  // The client's warnings (retries), redacted; empty: stderr.
  std::function<void(const log_record&)> log;
};

// Describes and probes cfg.source's tenant. Throws config_error (an unusable
// [source]) or std::system_error (describe or a probe failed after its
// retries; an --object the tenant does not describe), messages redacted.
std::vector<discovered_object> discover(const pipeline_config& cfg, const discovery_options& opts);

// A table per object, for people.
std::string to_text(const std::vector<discovered_object>& objects);
// {"objects":[{"name","label","fields":[{"name","type"}],"not_exportable":[…],
//   "refused":[{"name","reason"}],"replication_column","deleted","refused_object"}]}
std::string to_json(const std::vector<discovered_object>& objects);

// The pipeline `discover --write FILE` writes to `out_path`: one query per
// object with every accepted field, `incremental` on its replication column
// (none: a full load), the deleted column where supported, each refused
// field left out with a comment saying why. [source] and [[sinks]] are
// copied from `config_path` as written there (${VAR} references kept, never
// expanded; relative paths rebased onto out_path's directory); without a
// config, [source] has no base_url (the embedded emulator) and the sink is
// csv into "out" beside the file.
std::string pipeline_toml(const std::vector<discovered_object>& objects, const std::string& config_path,
                          const std::string& out_path);

}  // namespace aquaduct::engine_detail
