import Base
import Glibc

public enum HTTPMethod: String, Sendable {
    case get = "GET", head = "HEAD", post = "POST"
}

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [String: String]
    public var body: [UInt8]?

    public init(method: HTTPMethod, url: String, headers: [String: String] = [:], body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header fields in arrival order; names as sent.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of a header, case-insensitively.
    public func header(_ name: String) -> String? { headerValues(name).first }

    public func headerValues(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// Every `Link: <url>;rel="x"` target (RFC 8288), across repeated
    /// headers and comma-separated lists.
    public var links: [(url: String, rel: String)] {
        var result: [(url: String, rel: String)] = []
        for value in headerValues("Link") {
            var rest = Substring(value)
            while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
                let url = String(rest[rest.index(after: open)..<close])
                let afterURL = rest[rest.index(after: close)...]
                let end = afterURL.firstIndex(of: "<") ?? afterURL.endIndex
                let params = afterURL[..<end]
                for param in params.split(separator: ";") {
                    let parts = param.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, parts[0].trimmed.lowercased() == "rel" else { continue }
                    let rel = parts[1].trimmed.trimmed(of: "\",")
                    for single in rel.split(separator: " ") { result.append((url, String(single))) }
                }
                rest = afterURL[end...]
            }
        }
        return result
    }

    /// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3),
    /// relative to now; nil when absent or unparseable.
    public var retryAfter: Duration? {
        guard let value = header("Retry-After")?.trimmed, !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        guard let date = HTTPDate.parse(String(value)) else { return nil }
        return .seconds(max(0, date - Int(time(nil))))
    }
}


/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, to Unix seconds.
enum HTTPDate {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func parse(_ text: String) -> Int? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]),
              let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]) else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3 else { return nil }
        // From the network: only a real date reaches the Int32 fields of struct tm.
        guard (1970...9999).contains(year), (1...31).contains(day), (0...23).contains(clock[0]),
              (0...59).contains(clock[1]), (0...60).contains(clock[2]) else { return nil }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(clock[0])
        t.tm_min = Int32(clock[1])
        t.tm_sec = Int32(clock[2])
        return Int(timegm(&t))
    }
}

/// Moves bytes over HTTP. The ACME layer depends on this protocol only, so
/// it can be tested against scripted servers.
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// A transport failure (no HTTP response), as one line for the user.
public struct HTTPError: CodedError {
    public typealias Code = ErrorCode<HTTPError>
    public var code: Code
    public var url: String
    public var message: String

    public init(_ code: Code, url: String, _ message: String) {
        self.code = code
        self.url = url
        self.message = message
    }

    public var category: ErrorCategory { code.category }
    public var codeName: String { code.name }
}

extension ErrorCode where Domain == HTTPError {
    /// Name resolution or the TCP connection failed.
    public static var connect: Self { Self("http.connect", .network) }
    /// TLS verification of the server failed.
    public static var tls: Self { Self("http.tls", .network) }
    public static var timeout: Self { Self("http.timeout", .network) }
    /// The answer is larger than we read.
    public static var tooLarge: Self { Self("http.tooLarge", .network) }
    /// Not an http(s) URL.
    public static var invalidURL: Self { Self("http.invalidURL", .usage) }
    public static var other: Self { Self("http.other", .network) }
    /// The CA bundle given for the server cannot be read.
    public static var caBundle: Self { Self("http.caBundle", .localState) }
    /// libcurl itself failed on this machine.
    public static var curl: Self { Self("http.curl", .localState) }
}
