import Base
import Foundation
import Glibc
import Testing
@testable import ACMECrypto
@testable import ACMEHTTP

/// The smallest inputs fuzzing found that crashed or hung the project's code, kept as
/// regression tests now that the code is fixed. Each runs its input in a child process and
/// expects it to return.
/// (Found with FUZZ_SEED=0xac3e00f0225eed and 0x1; see Docs/FUZZING.md.)
@Suite("Fuzzing: known findings")
struct KnownFindings {
    /// `HTTPResponse.retryAfter` → `HTTPDate.parse` (Sources/ACMEHTTP/HTTPTransport.swift) converts
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
    @Test("a private JWK with a 64 KiB RSA modulus is refused at once, not after minutes of arithmetic")
    func hugeRSAModulus() async {
        await #expect(processExitsWith: .success) {
            alarm(60)  // SIGALRM ends the child: the test fails instead of waiting (unbounded: ~5 min here)
            var jwk = try! PrivateKey.generate(.rsa(bits: 2048)).privateJWK()
            jwk["n"] = Base64URL.encode([0xC3] + [UInt8](repeating: 0xA5, count: 64 * 1024))
            _ = try? PrivateKey(jwk: jwk)
        }
    }
}
