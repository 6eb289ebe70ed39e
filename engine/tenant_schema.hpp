#pragma once
// The tenant's describe (aqua-contract.md §1, §5.6), fetched through the
// run's aqua_client and cached for the run:
//   GET /v1/describe            the objects (objects())
//   GET /v1/describe/{Object}   one object's fields, types, contexts and
//                               related objects (object())
// Each document is asked for once per tenant_schema, whatever the number of
// queries, commands or relations that need it. Every call goes through
// aqua_client, so the run's retry policy (a 500 or a stalled answer is
// retried), auth (a refused credential is aqua_errc::auth_refused: exit 3)
// and redaction apply.
//
// Failures throw std::system_error whose message names the object and the
// service's status: an object the tenant does not describe (404, or absent
// from the list) is aqua_errc::unknown_object "... object X is not described
// by the tenant ..."; a describe that still fails after the retries keeps the
// client's code (unavailable, timeout...) with "describe of X: ..." in front.
//
// Used by the engine at plan time (column types, engine/column_types.hpp),
// by `validate --connect` and by `aquaduct discover`. Not thread-safe: use
// it from one coroutine at a time (on the run's io_context).
#include "decode/aqua_models.hpp"
#include "engine/aqua_client.hpp"

#include <aquaduct/sink.hpp>

#include <asio/awaitable.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aquaduct::engine_detail {

// Zuora's describe type -> the sinks' column type: text, picklist,
// longtext, ZOQL and anything unknown -> text; boolean; integer;
// decimal/number -> decimal; date; datetime/timestamp -> datetime.
column_type column_type_of(std::string_view zuora_type) noexcept;

class tenant_schema {
 public:
  // `client` must outlive this object (it is the run's or command's client).
  explicit tenant_schema(aqua_client& client) : client_(client) {}

  static std::string list_target();                         // /v1/describe
  static std::string object_target(std::string_view name);  // /v1/describe/{Object}, URL-encoded

  // GET /v1/describe, once. Throws as above.
  asio::awaitable<const std::vector<decode::describe_object_ref>*> objects();
  // GET /v1/describe/{name}, once per object (the name's case as the tenant
  // spells it when it is in an already fetched list). Throws as above; a 404
  // says the object is not described by the tenant.
  asio::awaitable<const decode::describe_object*> object(std::string name);
  // The object a relation of `base` points at: BillToContact -> Contact,
  // ParentAccount -> Account. Read from the related object's href when it
  // names another object, else the relation's own name when it is an object,
  // else the longest object name the relation's name ends with. nullopt when
  // `relation` is not among base's related objects (any case) or no object
  // fits. May fetch the object list.
  asio::awaitable<std::optional<std::string>> relation_target(const decode::describe_object& base,
                                                              std::string relation);

  // The describe requests sent so far, in order ("GET /v1/describe/Account").
  const std::vector<std::string>& requests() const noexcept { return requests_; }

 private:
  aqua_client& client_;
  std::optional<std::vector<decode::describe_object_ref>> list_;
  std::map<std::string, std::unique_ptr<decode::describe_object>> objects_;  // by lower-case name
  std::vector<std::string> requests_;
};

// The field of `object` named `name` (any case), or nullptr.
const decode::describe_field* find_field(const decode::describe_object& object, std::string_view name);
// The related object of `object` named `name` (any case), or nullptr.
const decode::describe_object_ref* find_relation(const decode::describe_object& object, std::string_view name);
// The candidate closest to `word` by edit distance (case-insensitive), when it
// is close enough to be a likely misspelling ("did you mean"); else empty.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace aquaduct::engine_detail
