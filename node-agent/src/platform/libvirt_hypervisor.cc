// HypervisorImpl over the libvirt C API: one connection (reopened when it dies), one RAII owner
// per virConnectPtr / virDomainPtr, libvirt errors translated to Status by retry meaning.
//
// Accelerator choice ("auto" | "kvm" | "qemu"). A usable /dev/kvm is not proof that KVM works:
// on some hosts the device opens and KVM_CREATE_VM succeeds, yet stock guest kernels hang early
// in boot. So "auto" uses KVM only when /dev/kvm opens read-write, libvirt offers kvm domains AND
// a real kernel (--kvm_probe_kernel, else the newest /boot/vmlinuz-*) boots to init under KVM
// (platform/accel_probe.h); otherwise TCG, which is always correct (only slower), with the
// reason logged. "kvm" forces KVM (the first two checks only); "qemu" forces TCG.
#include <fcntl.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "berth/agent/hypervisor.h"
#include "berth/log.h"
#include "berth/status_macros.h"
#include "guest/domain_xml.h"
#include "platform/accel_probe.h"

namespace berth::agent {
namespace {

struct ConnCloser {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFreer {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
struct CharFreer {
  void operator()(char* p) const { free(p); }
};
using UniqueConn = std::unique_ptr<virConnect, ConnCloser>;
using UniqueDomain = std::unique_ptr<virDomain, DomainFreer>;
using UniqueChars = std::unique_ptr<char, CharFreer>;

void IgnoreLibvirtError(void*, virErrorPtr) {}  // we report errors as Status, not on stderr

absl::StatusCode CodeFor(int code) {
  switch (code) {
    case VIR_ERR_NO_DOMAIN:
      return absl::StatusCode::kNotFound;
    case VIR_ERR_OPERATION_INVALID:
    case VIR_ERR_OPERATION_FAILED:
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
      return absl::StatusCode::kFailedPrecondition;
    case VIR_ERR_AGENT_UNRESPONSIVE:
    case VIR_ERR_AGENT_UNSYNCED:
    case VIR_ERR_OPERATION_TIMEOUT:
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_RPC:
    case VIR_ERR_SYSTEM_ERROR:
    case VIR_ERR_AUTH_UNAVAILABLE:
      return absl::StatusCode::kUnavailable;
    case VIR_ERR_XML_ERROR:
    case VIR_ERR_XML_DETAIL:
    case VIR_ERR_INVALID_ARG:
    case VIR_ERR_CONFIG_UNSUPPORTED:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;  // incl. a guest agent's own error, with its desc
  }
}

// Returns the calling thread's last libvirt error as a Status prefixed with `context`.
absl::Status LastError(absl::string_view context) {
  int code = virGetLastErrorCode();
  const char* text = virGetLastErrorMessage();
  return absl::Status(CodeFor(code), absl::StrCat(context, ": ", text ? text : "libvirt error"));
}

// Returns true when the image's filesystem accepts O_DIRECT (tmpfs does not).
bool SupportsDirectIo(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd >= 0) {
    ::close(fd);
    return true;
  }
  return errno != EINVAL;  // other errors: let libvirt report them on start
}

DomainState FromLibvirt(int state) {
  switch (state) {
    case VIR_DOMAIN_RUNNING:
      return DomainState::kRunning;
    case VIR_DOMAIN_PAUSED:
    case VIR_DOMAIN_PMSUSPENDED:
      return DomainState::kPaused;
    case VIR_DOMAIN_SHUTOFF:
      return DomainState::kShutoff;
    case VIR_DOMAIN_SHUTDOWN:
      return DomainState::kShuttingDown;
    case VIR_DOMAIN_CRASHED:
      return DomainState::kCrashed;
    default:
      return DomainState::kOther;
  }
}

class LibvirtHypervisor : public Hypervisor {
 public:
  LibvirtHypervisor(std::string uri, std::string accelerator, UniqueConn conn)
      : uri_(std::move(uri)), accelerator_(std::move(accelerator)), conn_(std::move(conn)) {}

  absl::Status Define(const DomainSpec& spec) override {
    DomainXmlOptions options;
    options.accelerator = accelerator_;
    for (const DiskAttachment& d : spec.disks) {
      if (!SupportsDirectIo(d.path)) options.no_direct_io.insert(d.path);
    }
    BERTH_RETURN_IF_ERROR(EnsureConnected());
    absl::ReaderMutexLock l(&mu_);
    if (!conn_) return absl::UnavailableError("libvirt connection lost");
    DomainSpec with_uuid = spec;
    if (!LooksLikeUuid(spec.uuid)) {
      // Without a UUID libvirt invents one, and a redefinition then clashes with the old one.
      UniqueDomain old(virDomainLookupByName(conn_.get(), spec.name.c_str()));
      char uuid[VIR_UUID_STRING_BUFLEN] = {};
      if (old && virDomainGetUUIDString(old.get(), uuid) == 0) with_uuid.uuid = uuid;
    }
    std::string xml = DomainXml(with_uuid, options);
    UniqueDomain dom(virDomainDefineXML(conn_.get(), xml.c_str()));
    if (!dom) return LastError(absl::StrCat("define domain ", spec.name));
    return absl::OkStatus();
  }

  absl::Status Start(const std::string& name) override {
    return WithDomain(name, "start", [&](virDomainPtr d) {
      if (virDomainIsActive(d) == 1) return absl::OkStatus();
      return virDomainCreate(d) == 0 ? absl::OkStatus() : LastError("start domain " + name);
    });
  }

  absl::Status Shutdown(const std::string& name) override {
    return WithDomain(name, "shut down", [&](virDomainPtr d) {
      if (virDomainIsActive(d) != 1 || virDomainShutdown(d) == 0) return absl::OkStatus();
      absl::Status s = LastError("shut down domain " + name);
      return absl::IsFailedPrecondition(s) && virDomainIsActive(d) != 1 ? absl::OkStatus() : s;
    });
  }

  absl::Status Destroy(const std::string& name) override {
    return WithDomain(name, "destroy", [&](virDomainPtr d) { return DestroyDomain(name, d); });
  }

  absl::Status Undefine(const std::string& name) override {
    absl::Status s = WithDomain(name, "undefine", [&](virDomainPtr d) {
      BERTH_RETURN_IF_ERROR(DestroyDomain(name, d));
      if (virDomainIsPersistent(d) != 1) return absl::OkStatus();  // transient: gone now
      // Everything libvirt keeps for the domain goes with it; drivers that reject the newer
      // flags (e.g. the test driver: "unsupported flags") get the basic set.
      unsigned basic = VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
      unsigned all = basic | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM;
      if (virDomainUndefineFlags(d, all) == 0) return absl::OkStatus();
      absl::Status s = LastError("undefine domain " + name);
      if (!absl::IsInvalidArgument(s)) return s;
      if (virDomainUndefineFlags(d, basic) == 0) return absl::OkStatus();
      return LastError("undefine domain " + name);
    });
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  }

  absl::StatusOr<DomainState> State(const std::string& name) override {
    DomainState out = DomainState::kNotFound;
    absl::Status s = WithDomain(name, "get state of", [&](virDomainPtr d) {
      int state = 0, reason = 0;
      if (virDomainGetState(d, &state, &reason, 0) != 0) {
        return LastError("get state of domain " + name);
      }
      out = FromLibvirt(state);
      return absl::OkStatus();
    });
    if (absl::IsNotFound(s)) return DomainState::kNotFound;
    if (!s.ok()) return s;
    return out;
  }

  absl::StatusOr<std::string> AgentCommand(const std::string& name, const std::string& command_json,
                                           absl::Duration timeout) override {
    // libvirt takes whole seconds; never 0 (that would mean "do not wait").
    int seconds = std::max(1, static_cast<int>(std::ceil(absl::ToDoubleSeconds(timeout))));
    std::string reply;
    absl::Status s = WithDomain(name, "run a guest agent command in", [&](virDomainPtr d) {
      UniqueChars out(virDomainQemuAgentCommand(d, command_json.c_str(), seconds, 0));
      if (!out) return LastError(absl::StrCat("guest agent in domain ", name));
      reply = out.get();
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return reply;
  }

  absl::StatusOr<MigrationProgress> Migrate(const std::string& name,
                                            const MigrationParams& p) override {
    BERTH_RETURN_IF_ERROR(OnOwnConnection(name, "migrate", [&](virDomainPtr d) -> absl::Status {
      UniqueChars xml(virDomainGetXMLDesc(d, VIR_DOMAIN_XML_MIGRATABLE | VIR_DOMAIN_XML_SECURE));
      if (!xml) return LastError("migratable definition of domain " + name);
      std::string dest_xml = xml.get();
      for (const auto& [from, to] : p.rewrites) {
        // Attribute values: libvirt writes them single-quoted; a partial path never matches.
        dest_xml = absl::StrReplaceAll(
            dest_xml, {{absl::StrCat("'", from, "'"), absl::StrCat("'", to, "'")}});
      }
      auto downtime = static_cast<unsigned long long>(absl::ToInt64Milliseconds(p.max_downtime));
      if (downtime > 0 && virDomainMigrateSetMaxDowntime(d, downtime, 0) != 0) {
        return LastError("set the maximum downtime of domain " + name);
      }
      virTypedParameterPtr params = nullptr;
      int n = 0, max = 0;
      virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_DEST_XML, dest_xml.c_str());
      virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_PERSIST_XML, dest_xml.c_str());
      // Without UNDEFINE_SOURCE: the definition left here keeps the finished job's figures
      // (the target keeps none), read below before it is undefined.
      unsigned flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PERSIST_DEST |
                       VIR_MIGRATE_NON_SHARED_DISK | VIR_MIGRATE_ABORT_ON_ERROR;
      int rc = virDomainMigrateToURI3(d, p.dest_uri.c_str(), params, n, flags);
      absl::Status s = rc == 0
                           ? absl::OkStatus()
                           : LastError(absl::StrCat("migrate domain ", name, " to ", p.dest_uri));
      virTypedParamsFree(params, n);
      if (!s.ok() && absl::StrContains(s.message(), "canceled by client")) {
        return absl::AbortedError(s.message());
      }
      return s;
    }));
    absl::StatusOr<MigrationProgress> done = Progress(name, true);
    MigrationProgress figures = done.ok() ? *done : MigrationProgress{};
    // The guest runs on the target now: the definition left here goes (a failure leaves it for
    // the controller's clean-up, which deletes the domain here after the switch-over).
    absl::Status undefined = Undefine(name);
    if (!undefined.ok()) {
      log::Warning(
          absl::StrCat("migrated domain ", name, " stays defined here: ", undefined.ToString()));
    }
    return figures;
  }

  absl::StatusOr<MigrationProgress> Progress(const std::string& name, bool completed) override {
    MigrationProgress out;
    absl::Status s = WithDomain(name, "read the migration job of", [&](virDomainPtr d) {
      int type = 0, n = 0;
      virTypedParameterPtr params = nullptr;
      // A finished job's figures are kept for the next reader (libvirt drops them once read).
      unsigned flags =
          completed ? VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED : 0;
      if (virDomainGetJobStats(d, &type, &params, &n, flags) != 0) {
        return LastError("migration job of domain " + name);
      }
      auto get = [&](const char* field) {
        unsigned long long v = 0;
        virTypedParamsGetULLong(params, n, field, &v);
        return static_cast<uint64_t>(v);
      };
      out.active = type == VIR_DOMAIN_JOB_BOUNDED || type == VIR_DOMAIN_JOB_UNBOUNDED;
      out.data_total = get(VIR_DOMAIN_JOB_DATA_TOTAL);
      out.data_processed = get(VIR_DOMAIN_JOB_DATA_PROCESSED);
      out.data_remaining = get(VIR_DOMAIN_JOB_DATA_REMAINING);
      out.downtime_ms = get(VIR_DOMAIN_JOB_DOWNTIME);
      out.elapsed_ms = get(VIR_DOMAIN_JOB_TIME_ELAPSED);
      virTypedParamsFree(params, n);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return out;
  }

  absl::Status AbortMigration(const std::string& name) override {
    return WithDomain(name, "abort the migration of", [&](virDomainPtr d) {
      if (virDomainAbortJob(d) == 0) return absl::OkStatus();
      return LastError("abort the migration of domain " + name);  // e.g. no job (yet)
    });
  }

  std::string Accelerator() const override { return accelerator_; }

 private:
  absl::Status DestroyDomain(const std::string& name, virDomainPtr d) {
    if (virDomainIsActive(d) != 1 || virDomainDestroy(d) == 0) return absl::OkStatus();
    absl::Status s = LastError("destroy domain " + name);
    return virDomainIsActive(d) != 1 ? absl::OkStatus() : s;
  }

  // Looks the domain up and runs `fn` on it under the connection's reader lock.
  template <typename Fn>
  absl::Status WithDomain(const std::string& name, absl::string_view what, Fn fn) {
    BERTH_RETURN_IF_ERROR(EnsureConnected());
    absl::ReaderMutexLock l(&mu_);
    if (!conn_) return absl::UnavailableError("libvirt connection lost");
    return OnDomain(conn_.get(), name, what, fn);
  }

  // Looks `name` up on `conn` and runs `fn` on it.
  template <typename Fn>
  static absl::Status OnDomain(virConnectPtr conn, const std::string& name, absl::string_view what,
                               Fn fn) {
    UniqueDomain dom(virDomainLookupByName(conn, name.c_str()));
    if (!dom) return LastError(absl::StrCat("cannot ", what, " domain ", name));
    return fn(dom.get());
  }

  // Runs `fn` on the domain through a connection opened for it alone, for calls that last as
  // long as a migration: behind such a call libvirt's client was seen to leave other calls on the
  // same connection unanswered (the abort's domain lookup waited for the whole migration).
  template <typename Fn>
  absl::Status OnOwnConnection(const std::string& name, absl::string_view what, Fn fn) {
    BERTH_ASSIGN_OR_RETURN(UniqueConn own, Connect("cannot connect to libvirt at "));
    return OnDomain(own.get(), name, what, fn);
  }

  // Reopens the connection when libvirtd went away (e.g. restarted).
  absl::Status EnsureConnected() {
    {
      absl::ReaderMutexLock l(&mu_);
      if (conn_ && virConnectIsAlive(conn_.get()) == 1) return absl::OkStatus();
    }
    absl::MutexLock l(&mu_);
    if (conn_ && virConnectIsAlive(conn_.get()) == 1) return absl::OkStatus();
    conn_.reset();
    BERTH_ASSIGN_OR_RETURN(conn_, Connect("cannot reconnect to libvirt at "));
    return absl::OkStatus();
  }

  // A new connection to uri_ whose errors are not printed (LastError reads them); `failure`
  // starts the error's message.
  absl::StatusOr<UniqueConn> Connect(absl::string_view failure) const {
    UniqueConn conn(virConnectOpen(uri_.c_str()));
    if (!conn) return LastError(absl::StrCat(failure, uri_));
    virConnSetErrorFunc(conn.get(), nullptr, IgnoreLibvirtError);
    return conn;
  }

  const std::string uri_;
  const std::string accelerator_;
  absl::Mutex mu_;  // readers use conn_, the writer replaces it
  UniqueConn conn_ ABSL_GUARDED_BY(mu_);
};

absl::Status CheckKvm(virConnectPtr conn) {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("/dev/kvm cannot be opened: ", strerror(errno)));
  }
  ::close(fd);
  UniqueChars caps(virConnectGetCapabilities(conn));
  if (!caps) return LastError("read libvirt capabilities");
  if (!absl::StrContains(caps.get(), "<domain type='kvm'")) {
    return absl::FailedPreconditionError("libvirt offers no kvm domains");
  }
  return absl::OkStatus();
}

// "auto": KVM when it demonstrably boots a kernel here, else TCG; says why on stderr.
std::string ChooseAccelerator(virConnectPtr conn, const std::string& probe_kernel) {
  absl::Status kvm = CheckKvm(conn);
  std::string why;
  if (!kvm.ok()) {
    why = std::string(kvm.message());
  } else {
    std::string kernel = probe_kernel.empty() ? DefaultProbeKernel() : probe_kernel;
    if (kernel.empty()) {
      why = "no kernel to probe KVM with (set --kvm_probe_kernel, or force --accelerator=kvm)";
    } else {
      AccelProbe probe = ProbeAccelerator("kvm", kernel, absl::Seconds(20));
      if (probe.works) {
        log::Info(absl::StrCat("accelerator kvm: ", probe.detail));
        return "kvm";
      }
      why = probe.detail;
    }
  }
  log::Info(absl::StrCat("accelerator qemu (TCG): KVM not usable: ", why));
  return "qemu";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Hypervisor>> NewLibvirtHypervisor(const std::string& uri,
                                                                 const std::string& accelerator,
                                                                 const std::string& probe_kernel) {
  if (accelerator != "auto" && accelerator != "kvm" && accelerator != "qemu") {
    return absl::InvalidArgumentError(
        absl::StrCat("accelerator \"", accelerator, "\" is not one of auto, kvm, qemu"));
  }
  virSetErrorFunc(nullptr, IgnoreLibvirtError);
  UniqueConn conn(virConnectOpen(uri.c_str()));
  if (!conn) {
    absl::Status s = LastError(absl::StrCat("cannot connect to libvirt at ", uri));
    return absl::UnavailableError(s.message());
  }
  virConnSetErrorFunc(conn.get(), nullptr, IgnoreLibvirtError);
  std::string chosen = accelerator;
  if (chosen == "kvm") {
    absl::Status kvm = CheckKvm(conn.get());
    if (!kvm.ok()) {
      return absl::Status(kvm.code(), absl::StrCat("--accelerator=kvm but ", kvm.message()));
    }
  }
  if (chosen == "auto") chosen = ChooseAccelerator(conn.get(), probe_kernel);
  return std::unique_ptr<Hypervisor>(
      std::make_unique<LibvirtHypervisor>(uri, chosen, std::move(conn)));
}

}  // namespace berth::agent
