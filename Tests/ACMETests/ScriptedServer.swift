import ACMECrypto
import ACMEHTTP
import Foundation
import Synchronization

/// An in-memory ACME server: each request is answered by a closure, and every request
/// is recorded with the nonce and URL from its JWS protected header.
final class ScriptedServer: HTTPTransport, Sendable {
    struct Seen: Sendable {
        var method: HTTPMethod
        var url: String
        var nonce: String?
        var protectedURL: String?
        var payload: String?
        var hasJWK: Bool
        var kid: String?
    }

    typealias Handler = @Sendable (HTTPRequest, Int) -> HTTPResponse
    private let state = Mutex<(seen: [Seen], nonceCounter: Int)>(([], 0))
    private let handler: Handler
    static let base = "https://ca.test"

    init(_ handler: @escaping Handler) { self.handler = handler }

    var seen: [Seen] { state.withLock { $0.seen } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        var record = Seen(method: request.method, url: request.url, nonce: nil, protectedURL: nil, payload: nil, hasJWK: false, kid: nil)
        if let body = request.body,
           let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: String],
           let protected = object["protected"].flatMap(Base64URL.decode),
           let header = try? JSONSerialization.jsonObject(with: Data(protected)) as? [String: Any] {
            record.nonce = header["nonce"] as? String
            record.protectedURL = header["url"] as? String
            record.hasJWK = header["jwk"] != nil
            record.kid = header["kid"] as? String
            record.payload = object["payload"].flatMap(Base64URL.decode).map { String(decoding: $0, as: UTF8.self) }
        }
        let index = state.withLock { s -> Int in
            s.seen.append(record)
            return s.seen.count - 1
        }
        var response = handler(request, index)
        if request.method != .get {
            let n = state.withLock { s -> Int in s.nonceCounter += 1; return s.nonceCounter }
            if response.header("Replay-Nonce") == nil {
                response.headers.append((name: "Replay-Nonce", value: "nonce\(n)"))
            }
        }
        return response
    }

    static let directoryJSON = """
    {"newNonce":"\(base)/nonce","newAccount":"\(base)/acct","newOrder":"\(base)/order","revokeCert":"\(base)/revoke",
     "meta":{"termsOfService":"\(base)/tos"}}
    """

    static func json(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [(name: "Content-Type", value: "application/json")] + headers, body: Array(body.utf8))
    }

    static func problem(_ status: Int, _ type: String, _ detail: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [(name: "Content-Type", value: "application/problem+json")] + headers,
                     body: Array("{\"type\":\"urn:ietf:params:acme:error:\(type)\",\"detail\":\"\(detail)\",\"status\":\(status)}".utf8))
    }
}
