#ifndef BERTH_CLI_COMMAND_CONTEXT_H_
#define BERTH_CLI_COMMAND_CONTEXT_H_

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "args.h"
#include "berth/kinds.h"
#include "berth/time_util.h"
#include "resource_client.h"
#include "waiter.h"

namespace CLI {
class App;
}  // namespace CLI

namespace berth::cli {

inline constexpr char kDefaultServer[] = "127.0.0.1:7443";

// Where and how to reach the controller: the global --server, --tls-dir and --token flags
// (env BERTH_SERVER, BERTH_TLS_DIR, BERTH_TOKEN).
struct Connection {
  std::string server;
  std::string tls_dir;  // ca.crt, tls.crt, tls.key for mTLS; empty: plaintext
  std::string token;    // bearer token sent with every call; empty: the certificate's identity
};

// How to dial the controller(s) named by --server / BERTH_SERVER.
struct ServerTarget {
  std::string target;     // the gRPC target: HOST:PORT as given, or ipv4:/ipv6: with a list
  std::string authority;  // a list: its first HOST:PORT (the :authority header); else empty
  std::string tls_name;   // a list: its first host, the name the certificate is checked
                          // against; else empty (gRPC takes it from the target)
};

// Parses --server: one HOST:PORT (kept as given, a host name works), or several
// comma-separated IP:PORT ("127.0.0.1:7443,127.0.0.1:7444", "[::1]:7443,[::1]:7444") for an HA
// control plane; gRPC's pick_first then fails over to the next controller that answers. A list
// must be all IPv4 or all IPv6 literals (gRPC's ipv4:/ipv6: resolvers; a host name names one
// server only).
absl::StatusOr<ServerTarget> ParseServerAddress(const std::string& server);

// Everything the CLI touches outside itself; main() fills it with the real world, tests with
// fakes. Streams and the clock are borrowed and must outlive the run.
struct CliEnv {
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  const Clock* clock = nullptr;
  std::function<void(absl::Duration)> sleep;
  std::function<absl::StatusOr<std::unique_ptr<ResourceClient>>(const Connection&)> connect;
  std::string default_server = kDefaultServer;  // BERTH_SERVER when set
  std::string default_tls_dir;                  // BERTH_TLS_DIR
  std::string default_token;                    // BERTH_TOKEN
};

// An object a command acts on, with the namespace it lives in ("" when cluster-scoped).
struct Target {
  ResourceRef ref;
  std::string ns;
};

// State shared by one CLI run: global flags, the lazily created client, the exit code.
// Single-threaded.
class CommandContext {
 public:
  explicit CommandContext(CliEnv env)
      : env_(std::move(env)),
        connection_{env_.default_server, env_.default_tls_dir, env_.default_token} {}

  std::istream& in() { return *env_.in; }
  std::ostream& out() { return *env_.out; }
  std::ostream& err() { return *env_.err; }
  const Clock& clock() const { return *env_.clock; }
  WaitTiming timing() const { return WaitTiming{env_.clock, env_.sleep}; }

  // Bound to the global --server, --tls-dir, --token and -n flags.
  std::string& server() { return connection_.server; }
  std::string& tls_dir() { return connection_.tls_dir; }
  std::string& token() { return connection_.token; }
  const Connection& connection() const { return connection_; }
  std::string& namespace_flag() { return namespace_; }

  // Returns the namespace to use for `kind`: -n, else "default"; "" when cluster-scoped.
  std::string NamespaceFor(const KindInfo& kind) const;

  // Connects on first use.
  absl::StatusOr<ResourceClient*> Client();

  // Prints `status` as one line on stderr and makes the run exit 1.
  void Fail(const absl::Status& status);
  // Prints a warning line on stderr.
  void Warn(const std::string& message);
  // Reports the status returned by a command (when not OK).
  void Finish(const absl::Status& status) {
    if (!status.ok()) Fail(status);
  }
  int exit_code() const { return exit_code_; }

 private:
  CliEnv env_;
  Connection connection_;
  std::string namespace_;
  std::unique_ptr<ResourceClient> client_;
  int exit_code_ = 0;
};

// Runs `body` and turns escaped JSON-library exceptions into errors (our code throws nothing,
// nlohmann may).
void RunGuarded(CommandContext& ctx, const std::function<absl::Status()>& body);

// Registration of each verb on the root app; the verb runs from its CLI11 callback.
void AddApplyCommand(CLI::App& app, CommandContext& ctx);
void AddGetCommand(CLI::App& app, CommandContext& ctx);
void AddDescribeCommand(CLI::App& app, CommandContext& ctx);
void AddDeleteCommand(CLI::App& app, CommandContext& ctx);
void AddWaitCommand(CLI::App& app, CommandContext& ctx);
void AddLabelCommands(CLI::App& app, CommandContext& ctx);
void AddVersionCommand(CLI::App& app, CommandContext& ctx);
void AddCompletionCommand(CLI::App& app, CommandContext& ctx);
void AddAdminCommands(CLI::App& app, CommandContext& ctx);
void AddKubeconfigCommand(CLI::App& app, CommandContext& ctx);
void AddNodeCommand(CLI::App& app, CommandContext& ctx);

// Reads manifests from files, directories (*.yaml, *.yml, *.json) or "-" (stdin).
// Per-file failures are reported through ctx.Fail; the objects read are returned with the
// file they came from.
struct FileObject {
  std::string file;
  Json object;
};
std::vector<FileObject> ReadManifestFiles(const std::vector<std::string>& files,
                                          CommandContext& ctx);

// Resolves the targets named by resource arguments, or by listing the kind with a label
// selector when `all` or a selector is given.
absl::StatusOr<std::vector<Target>> ResolveTargets(const ResourceArgs& args, bool all,
                                                   const std::string& selector,
                                                   CommandContext& ctx);

}  // namespace berth::cli

#endif  // BERTH_CLI_COMMAND_CONTEXT_H_
