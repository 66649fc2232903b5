import ACME
import ACMEHTTP
import ArgumentParser
import CertStore
import Challenges
import Issuance
import ACMECrypto
import Provision

/// Documented exit codes (Docs/CLI.md).
enum ExitStatus {
    static let ok: Int32 = 0
    /// The CA refused, validation failed, or the CA answered something we cannot use.
    static let caFailure: Int32 = 1
    /// A local problem: the HTTP-01 port, the webroot, the config directory, a key file.
    static let localFailure: Int32 = 2
    /// The CA could not be reached (network, DNS, TLS verification, timeouts).
    static let networkFailure: Int32 = 3
    /// Invalid command line or input (ArgumentParser's validation code too).
    static let usage: Int32 = 64

    /// Prints `error: …` (one line) and maps the error to its exit code.
    static func fail(_ error: any Error) -> ExitCode {
        let code: Int32
        switch error {
        case let e as ACMEError:
            code = e.kind == .usage ? usage : caFailure
        case is HTTPError:
            code = networkFailure
        case let e as IssuanceError:
            code = e.isUsage ? usage : caFailure
        case is StoreError, is ChallengeError, is CryptoError, is ProvisionError:
            code = localFailure
        case let e as UsageError:
            _ = e
            code = usage
        default:
            code = caFailure
        }
        Output.writeErr("error: \(error)")
        return ExitCode(code)
    }
}

/// A mistake on the command line found after parsing.
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
