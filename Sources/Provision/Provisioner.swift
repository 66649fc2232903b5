import ACMECrypto
import Base
import CertStore
import FoundationEssentials
import Glibc

/// `acme provision`: find and check the certificate, install it under the TLS
/// directory, bring Postfix's and Dovecot's TLS settings in line, reload the
/// daemons that run. When nothing differs from what is installed, it writes
/// nothing and reloads nothing.
public struct Provisioner: Sendable {
    public var settings: ProvisionSettings
    public var runner = Subprocess()
    /// A file set (by `setDigest`) not to install again: the daemon rolled it back because a
    /// daemon did not serve it. Cleared when the sources hold anything else.
    public var heldBack: String?

    public init(settings: ProvisionSettings) {
        self.settings = settings
    }

    public struct Report: Sendable {
        /// Where the certificate came from (nil in plaintext mode).
        public var origin: String?
        /// One line per change made (or, in a dry run, that would be made).
        public var changes: [String] = []
        public var warnings: [String] = []
        public var notes: [Event] = []
        public var reloaded: [String] = []
        public var changed: Bool { !changes.isEmpty }
        /// The set directory under `<tlsDir>/sets/` that went live in this run, and the one it
        /// replaced (kept, so that it can be restored); nil when the files did not change.
        public var installedSet: String?
        public var previousSet: String?
        /// The digest of the file set the sources hold now (see `heldBack`).
        public var setDigest: String?
        /// The serial of the primary certificate the sources hold (nil in plaintext mode).
        public var serial: String?

        /// Notes, each change, and the reloads, as progress lines.
        public func progressLines(dryRun: Bool) -> [Event] {
            notes + changes.map { Event((dryRun ? "would change: " : "changed: ") + $0) }
                + (reloaded.isEmpty ? [] : [Event("reloaded " + reloaded.joined(separator: " and "))])
        }

        /// The one result line: what was installed, or that nothing changed.
        public func summary(dryRun: Bool) -> String {
            let source = origin ?? "no TLS (SSL_TYPE empty)"
            if !changed { return "nothing changed (\(source))" }
            return dryRun ? "\(changes.count) change(s) pending from \(source)" : "installed from \(source)"
        }
    }

    var paths: InstalledPaths { InstalledPaths(tlsDir: settings.tlsDir) }
    var stateFile: String { settings.tlsDir + "/.acme-provision.json" }

    /// Checks everything, then (unless `dryRun`) applies what differs.
    /// Throws before touching anything when a check fails.
    /// `run` for async code: reloads, postconf and the TLS directory's lock wait block, so they
    /// run on a thread of their own.
    public func run(dryRun: Bool, now: Date = Date()) async throws -> Report {
        try await onOwnThread(throwing: { try self.run(dryRun: dryRun, now: now) as Report })
    }

    public func run(dryRun: Bool, now: Date = Date()) throws -> Report {
        var lock: FileLock?
        if !dryRun { lock = try lockTLSDirectory() }
        defer { lock?.release() }
        return try compareAndApply(dryRun: dryRun, now: now)
    }

    func compareAndApply(dryRun: Bool, now: Date) throws -> Report {
        var report = Report()
        let set = try CertificateFinder(settings: settings, now: now).find()
        report.origin = set?.origin
        report.serial = set?.primary.leaf.serialHex
        report.warnings += set?.warnings ?? []
        report.notes += (set?.notes ?? []).map { Event($0) }
        if set == nil {
            report.warnings.append("SSL_TYPE is empty: Postfix and Dovecot are set up WITHOUT TLS and accept passwords in cleartext; never use this in production")
        }
        var plan = Plan()
        try planFiles(set, &plan, &report)
        try planPostfix(set, &plan, &report)
        planDovecot(set, &plan, &report)
        describe(plan, set, &report)
        guard report.changed, !dryRun else { return report }
        try apply(plan, &report)
        return report
    }

    /// What differs between what is installed and what should be, as found by `compareAndApply`.
    struct Plan {
        var files: [(name: String, content: String, mode: mode_t)] = []
        var installedNames: Set<String> = []
        var filesDiffer = false
        var postfixChanges: [(String, String)] = []
        var masterChanges: [(String, String)] = []
        var havePostfix = false
        var queueDirectory = Provisioner.queueDirectory([:])
        var sslConf = ""
        var haveDovecot = false
        var dovecotContent: String?
        var detected: (version: DovecotVersion, stamp: String?) = (.v2_3, nil)
    }

    /// 1. The files, as they should be in <tlsDir>/current/.
    private func planFiles(_ set: CertificateSet?, _ plan: inout Plan, _ report: inout Report) throws {
        if let set {
            plan.files.append(("key.pem", set.primary.keyPEM, 0o600))
            plan.files.append(("fullchain.pem", set.primary.chainPEM, 0o644))
            if let alt = set.alt {
                plan.files.append(("alt_key.pem", alt.keyPEM, 0o600))
                plan.files.append(("alt_fullchain.pem", alt.chainPEM, 0o644))
            }
            if let ca = set.caPEM { plan.files.append(("cacert.pem", ca, 0o644)) }
            plan.files.append(("dhparams.pem", try dhParameters(&report), 0o644))
        }
        plan.installedNames = Set(try FS.listIfPresent(paths.current))
        // An installed file that cannot be read differs from what should be there: it is replaced.
        plan.filesDiffer = plan.files.count != plan.installedNames.count
            || plan.files.contains { (try? FS.read(paths.current + "/" + $0.name)) != $0.content }
        report.setDigest = plan.files.isEmpty ? nil : Self.setDigest(plan.files)
        if plan.filesDiffer, let heldBack, heldBack == report.setDigest {
            report.notes.append("the certificate rolled back earlier is held back until the sources change (or SIGHUP)")
            plan.filesDiffer = false
        }
    }

    /// 2. Postfix.
    private func planPostfix(_ set: CertificateSet?, _ plan: inout Plan, _ report: inout Report) throws {
        let mainCF = settings.postfixDir + "/main.cf"
        plan.havePostfix = FS.exists(mainCF)
        guard plan.havePostfix else {
            report.notes.append("no Postfix configuration at \(mainCF); Postfix left alone")
            return
        }
        let current = PostfixConfig.parseMainCF(try FS.read(mainCF))
        plan.queueDirectory = Self.queueDirectory(current)
        let wanted = PostfixConfig.render(set: set, level: settings.tlsLevel, paths: paths, current: current)
        plan.postfixChanges = wanted.settings.filter { current[$0.0] ?? "" != PostfixConfig.normalize($0.1) }
        if set == nil {
            let listing = runner.run(["postconf", "-c", settings.postfixDir, "-P"])
            if listing.succeeded { plan.masterChanges = PostfixConfig.plaintextMasterOverrides(listing.output) }
        }
    }

    /// 3. Dovecot.
    private func planDovecot(_ set: CertificateSet?, _ plan: inout Plan, _ report: inout Report) {
        plan.sslConf = settings.dovecotDir + "/conf.d/10-ssl.conf"
        plan.haveDovecot = FS.isDirectory(settings.dovecotDir)
        guard plan.haveDovecot else {
            report.notes.append("no Dovecot configuration at \(settings.dovecotDir); Dovecot left alone")
            return
        }
        plan.detected = dovecotVersion(&report)
        let rendered = DovecotConfig.render(set: set, level: settings.tlsLevel, paths: paths, version: plan.detected.version,
                                            origin: set == nil ? "SSL_TYPE empty" : "SSL_TYPE=\(settings.sslType.rawValue)")
        // Missing or unreadable: written anew.
        if (try? FS.read(plan.sslConf)) != rendered { plan.dovecotContent = rendered }
    }

    /// What changed, in words.
    private func describe(_ plan: Plan, _ set: CertificateSet?, _ report: inout Report) {
        if plan.filesDiffer {
            if let set {
                // Only the wording of the change line: without an old certificate it says "installed".
                let old = (try? FS.read(paths.chain)).flatMap { try? Certificate.chain(pem: $0).first }
                let new = set.primary.leaf
                let what = "certificate for \(new.dnsNames.joined(separator: ", ")) (serial \(new.serialHex), expires \(new.notAfter.utcText))"
                report.changes.append(old.map { "\(what) replaces serial \($0.serialHex)" } ?? "\(what) installed in \(settings.tlsDir)")
                if let alt = set.alt { report.changes.append("RSA fallback certificate serial \(alt.leaf.serialHex) installed") }
            } else {
                report.changes.append("TLS files removed from \(paths.current)")
            }
        }
        for (name, value) in plan.postfixChanges { report.changes.append("postfix: \(name) = \(value)") }
        for (name, value) in plan.masterChanges { report.changes.append("postfix master.cf: \(name) = \(value)") }
        if plan.dovecotContent != nil { report.changes.append("dovecot: \(plan.sslConf) rewritten") }
    }

    /// Apply. A new file set goes live with one rename. When the new set drops
    /// files (the ALT pair) the configuration stops naming them first; when it
    /// adds files they exist before any configuration names them.
    private func apply(_ plan: Plan, _ report: inout Report) throws {
        let files = plan.files, filesDiffer = plan.filesDiffer
        let dropsFiles = !plan.installedNames.isSubset(of: Set(files.map(\.name)))
        let previousSet = FS.readLink(paths.current).map(FS.lastComponent)
        if filesDiffer && !dropsFiles { report.installedSet = try installFiles(files) }
        if !plan.postfixChanges.isEmpty {
            try postconf(["-e"] + plan.postfixChanges.map { "\($0.0)=\($0.1)" })
        }
        if !plan.masterChanges.isEmpty {
            try postconf(["-P"] + plan.masterChanges.map { "\($0.0)=\($0.1)" })
        }
        if let dovecotContent = plan.dovecotContent {
            try FS.makeDirectories(settings.dovecotDir + "/conf.d", mode: 0o755)
            try FS.writeAtomically(plan.sslConf, dovecotContent, mode: 0o644)
        }
        if filesDiffer && dropsFiles { report.installedSet = try installFiles(files) }
        if filesDiffer { report.previousSet = previousSet }
        try saveState(files: files, serial: report.serial, dovecot: settings.dovecotVersion == nil ? plan.detected : nil)

        // Reload what runs; a daemon that is down reads the new settings when it starts.
        if plan.havePostfix && (filesDiffer || !plan.postfixChanges.isEmpty || !plan.masterChanges.isEmpty) {
            reloadPostfix(&report, queueDirectory: plan.queueDirectory)
        }
        if plan.haveDovecot && (filesDiffer || plan.dovecotContent != nil) {
            reloadDovecot(&report)
        }
    }

    // MARK: Files

    func dhParameters(_ report: inout Report) throws -> String {
        let custom = settings.dmsConfigDir + "/dhparams.pem"
        guard FS.exists(custom) else { return DHParameters.ffdhe4096PEM }
        let text = try KeyPair.readFile(custom, what: "DH parameters")
        guard let bits = DHParameters.bits(pem: text) else {
            throw ProvisionError(.refused, "\(custom): not PEM DH parameters (expected -----BEGIN DH PARAMETERS-----); remove it to use RFC 7919 ffdhe4096")
        }
        guard bits >= 2048 else {
            throw ProvisionError(.refused, "\(custom): \(bits)-bit DH parameters are too weak; use at least 2048 bits or remove the file to use ffdhe4096")
        }
        report.warnings.append("using custom DH parameters from \(custom) (\(bits) bits) instead of the RFC 7919 ffdhe4096 group")
        return text
    }

    /// One provision or restore at a time per TLS directory (a --watch loop, the daemon and a
    /// deploy hook may meet).
    func lockTLSDirectory() throws -> FileLock {
        try FS.makeDirectories(settings.tlsDir, mode: 0o755)
        return try FileLock(path: settings.tlsDir + "/.acme-provision.lock")
    }

    /// main.cf's queue_directory (where the master's pid file is), else Postfix's default.
    static func queueDirectory(_ mainCF: [String: String]) -> String {
        mainCF["queue_directory"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/spool/postfix"
    }

    /// The name a file set gets under `sets/`: the first 8 bytes of a SHA-256 over its files.
    static func setDigest(_ files: [(name: String, content: String, mode: mode_t)]) -> String {
        Digest.hex(Digest.sha256(Array(files.map { $0.name + "\0" + $0.content }.joined(separator: "\0").utf8)).prefix(8))
    }

    /// Writes the set into `sets/<digest>/`, then points `current` at it in one rename.
    /// Returns the set's directory name (nil when the set is empty: plaintext).
    @discardableResult
    func installFiles(_ files: [(name: String, content: String, mode: mode_t)]) throws -> String? {
        let setsDir = settings.tlsDir + "/sets"
        if FS.isSymlink(setsDir) {
            throw ProvisionError(.installFailed, "\(setsDir) is a symbolic link; acme writes and prunes sets only in a real directory: replace the link with a directory")
        }
        try FS.makeDirectories(setsDir, mode: 0o755)
        let previous = FS.readLink(paths.current)
        var installed: String?
        if files.isEmpty {
            if previous != nil { unlink(paths.current) }
        } else {
            let digest = Self.setDigest(files)
            // Named by content; a directory of that name that is live, or whose files were
            // edited by hand, is never overwritten in place: the new set gets a fresh name.
            var id = digest
            for attempt in 1... {
                let candidate = setsDir + "/" + id
                if !FS.exists(candidate) || "sets/" + id != previous { break }
                id = digest + "-\(attempt)"
            }
            installed = id
            let target = setsDir + "/" + id
            let staging = setsDir + "/.staging-\(getpid())"
            try removeTree(staging)
            try FS.makeDirectories(staging, mode: 0o755)
            for file in files { try FS.writeAtomically(staging + "/" + file.name, file.content, mode: file.mode) }
            try removeTree(target)
            guard rename(staging, target) == 0 else { throw ProvisionError(.installFailed, "cannot move \(staging) to \(target): \(FS.errorText())") }
            FS.syncDirectory(setsDir)
            try FS.replaceSymlink(paths.current, target: "sets/" + id)
            FS.syncDirectory(settings.tlsDir)
        }
        // Keep the set just replaced (a daemon may still be reading it); remove older ones.
        let keep = Set([FS.readLink(paths.current), previous].compactMap { $0 }.map(FS.lastComponent))
        for name in try FS.list(setsDir) where !keep.contains(name) && !name.hasPrefix(".staging") {
            try removeTree(setsDir + "/" + name)
        }
        return installed
    }

    /// Puts a kept set (`Report.previousSet`) back live and reloads the daemons: the rollback
    /// after a daemon did not serve a new set. The configuration files are left as they are.
    public func restore(set name: String) async throws -> Report {
        try await onOwnThread(throwing: { try self.restore(set: name) as Report })
    }

    public func restore(set name: String) throws -> Report {
        let lock = try lockTLSDirectory()
        defer { lock.release() }
        guard !name.contains("/"), name != "..", FS.isDirectory(settings.tlsDir + "/sets/" + name) else {
            throw ProvisionError(.installFailed, "cannot restore \(settings.tlsDir)/sets/\(name): it is not there any more; run acme provision to install what the sources hold")
        }
        var report = Report()
        let replaced = FS.readLink(paths.current).map(FS.lastComponent)
        try FS.replaceSymlink(paths.current, target: "sets/" + name)
        FS.syncDirectory(settings.tlsDir)
        report.installedSet = name
        report.previousSet = replaced
        report.changes.append("restored the file set \(name)")
        let mainCF = settings.postfixDir + "/main.cf"
        if FS.exists(mainCF) {
            reloadPostfix(&report, queueDirectory: Self.queueDirectory(PostfixConfig.parseMainCF(try FS.read(mainCF))))
        }
        if FS.isDirectory(settings.dovecotDir) { reloadDovecot(&report) }
        return report
    }

    /// A set directory under sets/, removed without following links (a set replaced by a link is refused).
    func removeTree(_ path: String) throws {
        try FS.removeManagedDirectory(path)
    }

    // MARK: Postfix

    func postconf(_ arguments: [String]) throws {
        let result = runner.run(["postconf", "-c", settings.postfixDir] + arguments)
        guard result.succeeded else {
            throw ProvisionError(.installFailed, "postconf -c \(settings.postfixDir) failed: \(result.lastLine)")
        }
    }

    func reloadPostfix(_ report: inout Report, queueDirectory: String) {
        guard postfixRunning(queueDirectory: queueDirectory) else {
            report.notes.append("Postfix is not running; it reads the new settings when it starts")
            return
        }
        let reload = runner.run(["postfix", "-c", settings.postfixDir, "reload"])
        if reload.succeeded { report.reloaded.append("postfix") } else { report.warnings.append("postfix reload failed: \(reload.lastLine)") }
    }

    /// What `postfix status` checks, without its three helper processes: the
    /// master's pid file under queue_directory names a live process.
    func postfixRunning(queueDirectory: String) -> Bool {
        // No readable pid file is what a stopped Postfix looks like.
        guard let text = try? FS.read(queueDirectory + "/pid/master.pid"),
              let pid = pid_t(text.trimmed(of: " \n\t")), pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    // MARK: Dovecot

    func reloadDovecot(_ report: inout Report) {
        let config = settings.dovecotDir + "/dovecot.conf"
        let result = runner.run(["doveadm", "-c", config, "reload"])
        if result.succeeded {
            report.reloaded.append("dovecot")
        } else if result.output.contains("not running") || result.status == 127 {
            report.notes.append("Dovecot is not running; it reads the new settings when it starts")
        } else {
            report.warnings.append("dovecot reload failed: \(result.lastLine)")
        }
    }

    /// The setting, else `dovecot --version`, remembered in the state file for as
    /// long as the binary's size and mtime stay the same (a start costs milliseconds).
    func dovecotVersion(_ report: inout Report) -> (version: DovecotVersion, stamp: String?) {
        if let version = settings.dovecotVersion { return (version, nil) }
        guard let binary = Subprocess.locate("dovecot") else {
            report.notes.append("dovecot is not in PATH; writing Dovecot 2.3 settings (set \(SettingName.dovecotVersion) to 2.4 for 2.4)")
            return (.v2_3, nil)
        }
        var info = stat()
        stat(binary, &info)
        let stamp = "\(binary) \(info.st_size) \(info.st_mtim.tv_sec)"
        let state = loadState()
        if state?.dovecotBinary == stamp, let cached = state?.dovecotVersion.flatMap(DovecotVersion.init(rawValue:)) {
            return (cached, stamp)
        }
        let result = runner.run([binary, "--version"])
        guard result.succeeded, let version = DovecotVersion(versionOutput: result.output) else {
            report.notes.append("cannot read the Dovecot version from `dovecot --version`; writing 2.3 settings (set \(SettingName.dovecotVersion))")
            return (.v2_3, nil)
        }
        return (version, stamp)
    }

    // MARK: State

    struct State: Codable {
        /// SHA-256 over the installed files and settings.
        var fingerprint: String
        var installedAt: String
        var serial: String?
        var dovecotBinary: String?
        var dovecotVersion: String?
    }

    func loadState() -> State? {
        // A cache (the Dovecot version): missing or unreadable means "ask dovecot again".
        guard let text = try? FS.readNoFollow(stateFile) else { return nil }
        return try? JSONDecoder().decode(State.self, from: Data(text.utf8))
    }

    func saveState(files: [(name: String, content: String, mode: mode_t)], serial: String?,
                   dovecot: (version: DovecotVersion, stamp: String?)?) throws {
        var material = files.map { $0.name + "\n" + $0.content }.joined(separator: "\n")
        for file in [settings.postfixDir + "/main.cf", settings.dovecotDir + "/conf.d/10-ssl.conf"] {
            // A daemon's file that does not exist (no Dovecot here) adds nothing to the fingerprint.
            material += "\n" + file + "\n" + ((try? FS.read(file)) ?? "")
        }
        let state = State(fingerprint: Digest.hex(Digest.sha256(Array(material.utf8))), installedAt: Date().utcText, serial: serial,
                          dovecotBinary: dovecot?.stamp, dovecotVersion: dovecot?.stamp == nil ? nil : dovecot?.version.rawValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FS.makeDirectories(settings.tlsDir, mode: 0o755)
        try FS.writeAtomically(stateFile, String(decoding: try encoder.encode(state), as: UTF8.self) + "\n", mode: 0o644)
    }
}
