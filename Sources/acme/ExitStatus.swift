import ArgumentParser
import Base

/// The exit codes of Docs/CLI.md, derived from an error's category in this one place.
enum ExitStatus {
    /// `renew`: some lineage or hook failed, the others went on.
    static let someFailed: Int32 = 1

    static func code(for category: ErrorCategory) -> Int32 {
        switch category {
        case .caRefused, .validationFailed: 1
        case .localState: 2
        case .network: 3
        case .usage: 64
        }
    }

    /// Runs a command's body: an error becomes one `error: …` line and its documented exit code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Output.writeErr("error: \(SettingFlags.naming("\(error)"))")
            // Every module's error is a CodedError; anything else is a bug reported as a CA-side failure.
            throw ExitCode((error as? any CodedError).map { code(for: $0.category) } ?? 1)
        }
    }

    /// `run` for a body made of blocking library calls (libpq, the config directory's lock, DNS
    /// and TLS waits): it runs on a thread of its own, not on the threads async code shares.
    static func runBlocking(_ body: @escaping @Sendable () throws -> Void) async throws {
        try await run { try await onOwnThread(throwing: body) }
    }
}
