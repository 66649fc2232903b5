import Base
import Foundation
import Glibc
import Testing
@testable import ACMECrypto
@testable import ACMEHTTP

/// The smallest inputs found by fuzzing that crash or hang the project's code. Each test runs
/// its input in a child process and expects it to return: it fails until the code is fixed, and
/// then guards the fix. The fuzz targets step around these inputs (see `Known`) so that they keep
/// testing everything else; FUZZ_INCLUDE_KNOWN=1 lets them reach the known findings too.
/// (Found with FUZZ_SEED=0xac3e00f0225eed and 0x1; see Docs/FUZZING.md.)
@Suite("Fuzzing: known findings")
struct KnownFindings {
    /// `HTTPResponse.retryAfter` → `HTTPDate.parse` (Sources/ACMEHTTP/HTTPMessage.swift) converts
    /// the year, day and clock fields with `Int32(_:)` (and computes `year - 1900`), which traps
    /// for values outside Int32: one Retry-After header from a CA (or anything answering at the
    /// server URL) kills `acme issue`, `acme renew` (ARI) and the daemon.
    /// Found by `retryAfter`, case 7: `Retry-After: Sun, 32 Dec -9223372036854775808 99:99:99 GMT`.
    @Test("Retry-After with a year outside Int32 returns instead of trapping")
    func retryAfterYearOverflow() async {
        await #expect(processExitsWith: .success) {
            for value in ["Sun, 06 Nov 3000000000 08:49:37 GMT", "Sun, 2147483648 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Nov 1994 2147483648:00:00 GMT", "Sun, 32 Dec -9223372036854775808 99:99:99 GMT"] {
                _ = HTTPResponse(status: 429, headers: [("Retry-After", value)], body: []).retryAfter
            }
        }
    }

    /// `PrivateKey(jwk:)` (Sources/ACMECrypto/PrivateKey.swift) bounds no RSA member: it accepts a
    /// modulus of any size ≥ 2048 bits (and a `p`, `e`… of any size) and then signs with the key to
    /// check its consistency; the time grows with the square of the size (an 8 KiB "n": about 5 s
    /// in a debug build), so a private_key.json whose "n" is 64 KiB keeps `acme` busy for minutes,
    /// one of 1 MiB for hours, before the key is refused as inconsistent. Found by the
    /// `privateKeyJWK` large input "RSA modulus of 1 MiB", and by `accountStore` case 18983 with
    /// FUZZ_SEED=0x1 (a private_key.json whose "n" a mutation had grown to 22 KiB).
    @Test("a private JWK with a 64 KiB RSA modulus is refused within 3 s")
    func hugeRSAModulus() async {
        await #expect(processExitsWith: .success) {
            alarm(3)  // SIGALRM ends the child: the test fails instead of waiting
            var jwk = try! PrivateKey.generate(.rsa(bits: 2048)).privateJWK()
            jwk["n"] = Base64URL.encode([0xC3] + [UInt8](repeating: 0xA5, count: 64 * 1024))
            _ = try? PrivateKey(jwk: jwk)
        }
    }
}

/// The inputs of the known findings, recognised so that the fuzz targets can step around them
/// (each finding already has its failing test above) and keep testing the rest.
enum Known {
    /// FUZZ_INCLUDE_KNOWN=1: feed them anyway (to check a fix with the fuzzers).
    static let include = ProcessInfo.processInfo.environment["FUZZ_INCLUDE_KNOWN"] == "1"

    /// `KnownFindings.retryAfterYearOverflow`: a Retry-After HTTP-date whose day, year - 1900 or
    /// clock field is an Int outside Int32 (as HTTPDate.parse reads the first Retry-After).
    static func trapsHTTPDate(_ headers: [(name: String, value: String)]) -> Bool {
        guard !include, let value = headers.first(where: { $0.name.lowercased() == "retry-after" })?.value else { return false }
        let parts = value.trimmed.split(separator: " ")
        guard parts.count == 6 else { return false }
        func outside(_ text: Substring, minus offset: Int = 0) -> Bool {
            guard let number = Int(text) else { return false }
            let (shifted, overflow) = number.subtractingReportingOverflow(offset)
            return overflow || Int32(exactly: shifted) == nil
        }
        return outside(parts[1]) || outside(parts[3], minus: 1900) || parts[4].split(separator: ":").contains { outside($0) }
    }

    /// `KnownFindings.hugeRSAModulus`: an RSA JWK member longer than 1400 base64url characters
    /// (about 1 KiB; larger ones take seconds to minutes).
    static func slowRSAJWK(_ jwk: [String: String]) -> Bool {
        guard !include else { return false }
        return ["n", "e", "d", "p", "q", "dp", "dq", "qi"].contains { (jwk[$0]?.utf8.count ?? 0) > 1400 }
    }
}
