import Base
import Foundation
@testable import ACME
@testable import ACMEHTTP

enum ACMETargets {
    static let jsonMutator = Mutator(seeds: Corpus.acmeDocuments.map(\.bytes), tokens: Corpus.jsonTokens, maxLength: 64 * 1024, json: true)
    static let headerMutator = Mutator(seeds: headerSeeds.map(\.bytes), tokens: ["<", ">", ";", "rel=", "\"", ",", "Retry-After: ", "Link: ", "GMT", " ", "HTTP/1.1 200\r\n"], maxLength: 64 * 1024)

    static func jsonInput(_ rng: inout SplitMix64) -> [UInt8] {
        switch rng.below(10) {
        case 0..<8: return jsonMutator.input(&rng)
        default: return RandomJSON.document(&rng).bytes
        }
    }

    static let problem = FuzzTarget(
        name: "problem", iterations: 5000,
        generate: { jsonInput(&$0) },
        execute: { input in
            // Problem.parse never throws: nil means "not a problem document".
            if let problem = Problem.parse(input) {
                _ = problem.summary
                _ = problem.shortType
            }
        },
        allowed: Allowed.project,
        large: [
            ("2 MiB detail of \\n escapes", { (#"{"type":"urn:ietf:params:acme:error:malformed","detail":""# + String(repeating: "\\n", count: 1 << 20) + "\"}").bytes }),
            ("20 000 subproblems", { (#"{"type":"x","subproblems":["# + Array(repeating: #"{"type":"urn:ietf:params:acme:error:dns","detail":"d","identifier":{"type":"dns","value":"v"}}"#, count: 20_000).joined(separator: ",") + "]}").bytes }),
            ("2 MiB nesting", { (#"{"type":"x","subproblems":"# + String(repeating: "[", count: 2 << 20)).bytes }),
        ])

    /// The ACME resources decoded as ACMEClient decodes them (JSONDecoder), each input as every type.
    static let resources = FuzzTarget(
        name: "resources", iterations: 4000,
        generate: { jsonInput(&$0) },
        execute: { input in
            let data = Data(input)
            let decoder = JSONDecoder()
            // Counted as returned when at least one type read it.
            var first: (any Error)?
            var decoded = false
            func attempt(_ body: () throws -> Void) throws {
                do { try body(); decoded = true } catch {
                    guard error is DecodingError || error is ACMEError else { throw UnexpectedError(call: "decode", underlying: error) }
                    first = first ?? error
                }
            }
            try attempt { _ = try Directory.parse(input, url: "https://acme.example/directory") }
            try attempt { let order = try decoder.decode(Order.self, from: data); _ = order.error?.summary }
            try attempt { let authorization = try decoder.decode(Authorization.self, from: data); _ = authorization.displayName }
            try attempt { _ = try decoder.decode(Challenge.self, from: data) }
            try attempt { _ = try decoder.decode(Account.Body.self, from: data) }
            try attempt { _ = try decoder.decode(Problem.self, from: data).summary }
            try attempt { _ = try decoder.decode([Identifier].self, from: data) }
            if !decoded, let first { throw first }
        },
        allowed: { $0 is DecodingError || $0 is ACMEError },
        large: [
            ("50 000 authorizations", { (#"{"status":"pending","identifiers":[],"finalize":"f","authorizations":["# + Array(repeating: "\"https://acme.example/authz/123456\"", count: 50_000).joined(separator: ",") + "]}").bytes }),
            ("2 MiB of [ in a challenge", { (#"{"type":"http-01","url":"u","status":"s","error":"# + String(repeating: "[", count: 2 << 20)).bytes }),
            ("2 MB of {\"a\": ", { String(repeating: "{\"a\":", count: 400_000).bytes }),
        ])

    // MARK: HTTP response headers

    /// Header lines split as CurlTransport's header callback splits them.
    static func headers(_ input: [UInt8]) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = []
        // Split on LF bytes: curl hands over one line at a time, CR LF included (a String split on
        // "\n" would not split at all, "\r\n" being one Character).
        for bytes in input.split(separator: 10, omittingEmptySubsequences: false) {
            let line = String(decoding: bytes + [10], as: UTF8.self)
            if line.hasPrefix("HTTP/") {
                headers.removeAll()
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...].trimmed(of: " \t\r\n"))))
            }
        }
        return headers
    }

    static let headerSeeds = [
        "HTTP/2 201\r\nReplay-Nonce: 2Bko1-bLJkjqV7mQ8RPxoupFP0V7xQ\r\nLocation: https://acme.example/order/1\r\nRetry-After: 30\r\nLink: <https://acme.example/directory>;rel=\"index\"\r\n",
        "HTTP/1.1 200 OK\r\nLink: <https://acme.example/cert/1/1>;rel=\"alternate\", <https://acme.example/cert/1/2>; rel=\"alternate\"\r\nLink: <https://acme.example/dir>;rel=\"index up\"\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
        "HTTP/1.1 429 Too Many Requests\r\nRetry-After: Wed, 01 Jan 2031 00:00:00 GMT\r\nContent-Type: application/problem+json\r\n",
        "HTTP/1.1 503\r\nRetry-After: 120\r\nlink: <a>;REL=alternate;title=\"x,y\"\r\n",
    ]

    /// Link headers (alternate chains, the directory) and header lookup.
    static let linkHeaders = FuzzTarget(
        name: "linkHeaders", iterations: 3000,
        generate: { headerMutator.input(&$0) },
        execute: { input in
            let response = HTTPResponse(status: 200, headers: headers(input), body: [])
            _ = response.links
            _ = response.header("Replay-Nonce")
            _ = response.headerValues("location")
        },
        allowed: Allowed.project,
        large: [
            ("2 MiB Link header of <<<<", { ("Link: " + String(repeating: "<", count: 2 << 20)).bytes }),
            ("20 000 links", { ("Link: " + Array(repeating: "<https://a.example/x>;rel=\"alternate\"", count: 20_000).joined(separator: ",")).bytes }),
        ])

    /// Retry-After as delta-seconds or an HTTP-date (rate limits, ARI, polling).
    static let retryAfter = FuzzTarget(
        name: "retryAfter", iterations: 3000,
        generate: { rng in
            if rng.chance(25) {
                // A date with fields that are almost right.
                let day = rng.pick(["06", "0", "-1", "32", "2147483648", "99999999999999999999", "9223372036854775807"])
                let month = rng.pick(HTTPDate.months + ["Foo", "jan", ""])
                let year = rng.pick(["1994", "2031", "0", "-1", "1900", "99999", "2147485547", "3000000000", "9223372036854775807", "-9223372036854775808"])
                let clock = rng.pick(["08:49:37", "24:00:00", "99:99:99", "2147483648:0:0", "-1:-1:-1", "1:2", "::"])
                return "HTTP/1.1 429\r\nRetry-After: Sun, \(day) \(month) \(year) \(clock) GMT\r\n".bytes
            }
            return headerMutator.input(&rng)
        },
        execute: { input in
            let response = HTTPResponse(status: 503, headers: headers(input), body: [])
            _ = response.retryAfter
        },
        allowed: Allowed.project,
        large: [
            ("2 MiB Retry-After", { ("Retry-After: " + String(repeating: "9", count: 2 << 20)).bytes }),
        ])
}
