import Base
import CertStore
import Glibc
import Synchronization

/// certbot's hook rules: commands from the command line or the renewal conf run through
/// `/bin/sh -c`; executables in `renewal-hooks/{pre,deploy,post}/` run in name order
/// before them; a command equal to a directory hook does not run twice. A failing hook is
/// reported and changes nothing that was already done. Each runs as a `Hook` (Docs/HOOKS.md):
/// on a thread of its own, with the one environment contract and the one timeout.
public struct HookRunner: Sendable {
    public enum Kind: String, Sendable {
        case pre, deploy, post

        var hookKind: Hook.Kind {
            switch self {
            case .pre: .pre
            case .deploy: .deploy
            case .post: .post
            }
        }
    }

    public var configDirectory: String
    public var useDirectoryHooks: Bool
    public var report: EventSink

    public init(configDirectory: String, useDirectoryHooks: Bool, report: @escaping EventSink) {
        self.configDirectory = LocalSystem.absolutePath(configDirectory)
        self.useDirectoryHooks = useDirectoryHooks
        self.report = report
    }

    /// Executable files in `renewal-hooks/<kind>/`, sorted by name.
    public func directoryHooks(_ kind: Kind) -> [String] {
        guard useDirectoryHooks else { return [] }
        let directory = "\(configDirectory)/renewal-hooks/\(kind.rawValue)"
        // A missing hook directory is normal; an unreadable one is reported, not taken for empty.
        let names: [String]
        do {
            names = try FS.listIfPresent(directory)
        } catch {
            report("cannot read the \(kind.rawValue) hooks: \(error)")
            return []
        }
        return names
            .filter { !$0.hasPrefix(".") && !$0.hasSuffix("~") }
            .map { directory + "/" + $0 }
            .filter { !FS.isDirectory($0) && access($0, X_OK) == 0 }
    }

    /// Runs the directory hooks of `kind`, then each command not already run as one of them.
    /// Returns false if any failed.
    @discardableResult
    public func run(_ kind: Kind, commands: [String], environment: HookEnvironment = HookEnvironment()) async -> Bool {
        let directory = directoryHooks(kind)
        var ok = true
        for path in directory {
            let succeeded = await execute(Hook(kind.hookKind, command: path, executable: true, environment: environment))
            ok = succeeded && ok
        }
        var seen = Set(directory)
        for command in commands where !command.isEmpty && !seen.contains(command) {
            seen.insert(command)
            let succeeded = await execute(Hook(kind.hookKind, command: command, environment: environment))
            ok = succeeded && ok
        }
        return ok
    }

    private func execute(_ hook: Hook) async -> Bool {
        let kind = hook.kind.rawValue
        report("running \(kind) hook: \(hook.command)")
        let result = await hook.run()
        for line in result.output.split(separator: "\n") { report("  \(line)") }
        guard result.succeeded else {
            report("\(kind) hook \(hook.command) failed with exit status \(result.status): \(result.lastLine)")
            return false
        }
        return true
    }
}

/// One run's hooks in certbot's order, shared by `acme issue` and `acme renew`: the pre hooks
/// once, just before the CA is first contacted; a deploy hook after each new certificate;
/// the post hooks once at the end, only if the CA was contacted (also after a failure).
public final class HookPlan: Sendable {
    public let runner: HookRunner
    private let state = Mutex<(attempted: Bool, failures: [String])>((false, []))

    public init(runner: HookRunner) { self.runner = runner }

    /// Whether the CA has been contacted in this run.
    public var attempted: Bool { state.withLock { $0.attempted } }
    /// One line per failed hook run, for the summary and the exit status.
    public var failures: [String] { state.withLock { $0.failures } }

    /// Runs the pre hooks the first time it is called; later calls do nothing.
    public func beforeContactingCA(pre commands: [String]) async {
        let first = state.withLock { state -> Bool in
            defer { state.attempted = true }
            return !state.attempted
        }
        if first, !(await runner.run(.pre, commands: commands)) { record("a pre hook failed; continuing") }
    }

    /// Runs the deploy hooks for a lineage that got a new certificate.
    public func deployed(_ commands: [String], livePath: String, names: [String], lineage: String) async {
        let environment = HookEnvironment(domains: names, lineage: lineage, liveDirectory: livePath)
        if !(await runner.run(.deploy, commands: commands, environment: environment)) {
            record("\(lineage): a deploy hook failed; the new certificate is in place")
        }
    }

    /// Runs the post hooks if the CA was contacted.
    public func finish(post commands: [String]) async {
        guard attempted else { return }
        if !(await runner.run(.post, commands: commands)) { record("a post hook failed") }
    }

    private func record(_ failure: String) {
        state.withLock { $0.failures.append(failure) }
    }
}
