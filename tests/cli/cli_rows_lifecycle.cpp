// The CLI test table's rows for the lifecycle commands (issue 13): `jobs show`, `jobs cancel`,
// `jobs retry`, `jobs delete`, and the finished states in `jobs` and `status` (see cli_table.hpp).
// The standard database: Record 1 and 2 ready, Record 3 scheduled, a failing Fail scheduled, Record
// 4 running
// ({running}), {dead_a} (Fail) and {dead_b} (Text) discarded.
#include "cli/cli_table.hpp"

#include <cstdint>
#include <string>

namespace errand_test {

void lifecycle_rows(std::vector<CliRow>& r) {
  using Args = std::vector<std::string>;
  const Args cancel = {"jobs", "cancel", "--db={db}"};
  const Args retry = {"jobs", "retry", "--db={db}"};
  const Args show = {"jobs", "show", "--db={db}"};
  const Args remove = {"jobs", "delete", "--db={db}"};
  const auto with = [](Args args, const Args& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  // cancel: a selection is never empty by accident; finished and unknown ids are errors.
  r.push_back({"jobs_cancel_without_selection",
               cancel,
               kFailed,
               {"say which jobs to cancel", "--name TYPE", "--all-ready"}});
  r.push_back(
      {"jobs_cancel_empty_name", with(cancel, {"--name", ""}), kFailed, {"--name is empty"}});
  r.push_back({"jobs_cancel_ids_and_all_ready",
               with(cancel, {"{running}", "--all-ready"}),
               kFailed,
               {"only one of IDs, --name TYPE and --all-ready"}});
  r.push_back(
      {"jobs_cancel_unknown_id", with(cancel, {"999999"}), kFailed, {"no job with id 999999"}});
  r.push_back({"jobs_cancel_discarded_job",
               with(cancel, {"{dead_a}"}),
               kFailed,
               {"job {dead_a} is already discarded"}});
  r.push_back({"jobs_cancel_running_job",
               with(cancel, {"{running}", "--reason", "operator"}),
               kOk,
               {"job {running}: running; its worker was asked to stop it"},
               {},
               Db::changed});
  r.push_back({"jobs_cancel_running_and_unknown",
               with(cancel, {"{running}", "999999"}),
               kFailed,
               {"job {running}: running", "no job with id 999999"},
               {},
               Db::changed});
  r.push_back({"jobs_cancel_all_ready",
               with(cancel, {"--all-ready"}),
               kOk,
               {"2 waiting jobs cancelled; 0 running jobs asked to stop"},
               {},
               Db::changed});
  r.push_back({"jobs_cancel_by_name",
               with(cancel, {"--name", "Record", "--reason", "bulk"}),
               kOk,
               {"3 waiting jobs cancelled; 1 running job asked to stop"},
               {},
               Db::changed});
  r.push_back({"jobs_cancel_unknown_name",
               with(cancel, {"--name", "Nope"}),
               kOk,
               {"0 waiting jobs cancelled; 0 running jobs asked to stop"}});
  r.push_back({"jobs_cancel_on_read_only",
               with(cancel, {"--all-ready"}),
               kFailed,
               {"read-only"},
               {},
               Db::unchanged,
               Setup::read_only});
  // retry: only finished jobs.
  r.push_back({"jobs_retry_discarded_job",
               with(retry, {"{dead_a}"}),
               kOk,
               {"job {dead_a}: back in the queue"},
               {},
               Db::changed});
  r.push_back({"jobs_retry_running_job",
               with(retry, {"{running}"}),
               kFailed,
               {"job {running} has not finished"}});
  r.push_back(
      {"jobs_retry_unknown_id", with(retry, {"999999"}), kFailed, {"no job with id 999999"}});
  // delete: any job but a held one.
  r.push_back({"jobs_delete_discarded_job",
               with(remove, {"{dead_a}"}),
               kOk,
               {"job {dead_a}: deleted"},
               {},
               Db::changed});
  r.push_back({"jobs_delete_running_job",
               with(remove, {"{running}"}),
               kFailed,
               {"a worker holds job {running} (cancel it first)"}});
  r.push_back(
      {"jobs_delete_unknown_id", with(remove, {"999999"}), kFailed, {"no job with id 999999"}});
  // show: every field; the attempts; unknown ids.
  r.push_back({"jobs_show_discarded_job",
               with(show, {"{dead_a}"}),
               kOk,
               {"job {dead_a}  Fail", "discarded", "last error", "ctx-a"}});
  r.push_back({"jobs_show_running_job",
               with(show, {"{running}"}),
               kOk,
               {"job {running}  Record", "running", "locked by", "cli-test"}});
  r.push_back(
      {"jobs_show_json",
       with(show, {"{dead_b}", "--json"}),
       kOk,
       {"\"id\":{dead_b}", "\"state\":\"discarded\"", "\"attempts\":[]", "\"json_version\":1"}});
  r.push_back({"jobs_show_unknown_id", with(show, {"999999"}), kFailed, {"no job with id 999999"}});
  r.push_back({"jobs_show_on_read_only",
               with(show, {"{running}"}),
               kOk,
               {"running"},
               {},
               Db::unchanged,
               Setup::read_only});
  // The finished states in jobs and status.
  r.push_back({"jobs_state_discarded",
               {"jobs", "--db={db}", "--state", "discarded", "--json"},
               kOk,
               {"\"id\":{dead_a}", "\"id\":{dead_b}"},
               {"\"state\":\"ready\""}});
  r.push_back(
      {"jobs_state_unknown", {"jobs", "--db={db}", "--state", "finished"}, kBadValue, {"--state"}});
  r.push_back({"status_counts_finished_states",
               {"status", "--db={db}", "--json"},
               kOk,
               {"\"discarded\":2", "\"completed\":0", "\"cancelled\":0"}});
}

}  // namespace errand_test
