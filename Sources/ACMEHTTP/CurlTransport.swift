import Base
import CCurl
import Dispatch
import Glibc

public struct HTTPConfiguration: Sendable {
    /// PEM file of CAs to trust instead of the system store (private CAs,
    /// Pebble). Verification is never turned off.
    public var caBundle: String?
    public var userAgent: String
    public var connectTimeout: Duration
    public var requestTimeout: Duration
    /// Responses larger than this are refused (certificates and ACME
    /// objects are a few KiB; this bounds memory against a hostile server).
    public var maxResponseBytes: Int

    public init(caBundle: String? = nil, userAgent: String, connectTimeout: Duration = .seconds(10),
                requestTimeout: Duration = .seconds(60), maxResponseBytes: Int = 4 << 20) {
        self.caBundle = caBundle
        self.userAgent = userAgent
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// HTTP through libcurl with one easy handle for the whole run, so the TLS
/// connection to the CA and its CA bundle are set up once. Requests run one
/// at a time on a private serial queue, off Swift's cooperative pool.
public final class CurlTransport: HTTPTransport, @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let configuration: HTTPConfiguration
    private let queue = DispatchQueue(label: "acme.curl")
    private var count = 0  // touched only on `queue`

    private static let globalInit: Void = { curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    public init(configuration: HTTPConfiguration) throws {
        _ = Self.globalInit
        // Checked before any request: a regular, readable file holding at least one PEM
        // certificate (a directory, a FIFO or an empty file would only fail later, less clearly).
        if let bundle = configuration.caBundle {
            let text: String
            do {
                text = try FS.read(bundle)
            } catch let error as BaseError {
                throw HTTPError(.caBundle, url: "", "CA bundle: \(error.message)")
            }
            guard text.contains("-----BEGIN CERTIFICATE-----") else {
                throw HTTPError(.caBundle, url: "", "CA bundle \(bundle) holds no PEM certificate; give the CA's certificate chain in PEM (-----BEGIN CERTIFICATE-----)")
            }
        }
        guard let handle = curl_easy_init() else {
            throw HTTPError(.curl, url: "", "libcurl could not create a handle")
        }
        self.handle = handle
        self.configuration = configuration
    }

    deinit { curl_easy_cleanup(handle) }

    /// Requests sent so far (for `--verbose` and the benchmark).
    public var requestCount: Int { queue.sync { count } }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                self.count += 1
                continuation.resume(with: Result { try self.perform(request) })
            }
        }
    }

    /// Collects the response while curl runs; reached from C callbacks.
    private final class Exchange {
        var body: [UInt8] = []
        var headers: [(name: String, value: String)] = []
        var limit: Int
        var overflowed = false
        init(limit: Int) { self.limit = limit }
    }

    private func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        guard request.url.hasPrefix("https://") || request.url.hasPrefix("http://") else {
            throw HTTPError(.invalidURL, url: request.url, "\(request.url) is not an http(s) URL")
        }
        curl_easy_reset(handle)
        let exchange = Exchange(limit: configuration.maxResponseBytes)
        let context = Unmanaged.passRetained(exchange)
        defer { context.release() }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers.sorted(by: { $0.key < $1.key }) {
            headerList = curl_slist_append(headerList, "\(name): \(value)")
        }
        // curl adds "Expect: 100-continue" to larger POSTs; ACME servers
        // don't need the extra round trip.
        headerList = curl_slist_append(headerList, "Expect:")

        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { errorPointer in
            let body = request.body ?? []
            return body.withUnsafeBufferPointer { bodyPointer in
                var options: [CURLcode] = []
                options.append(acme_curl_setopt_string(handle, CURLOPT_URL, request.url))
                options.append(acme_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorPointer.baseAddress))
                options.append(acme_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
                options.append(acme_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"))
                options.append(acme_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
                options.append(acme_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
                options.append(acme_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
                if let bundle = configuration.caBundle {
                    options.append(acme_curl_setopt_string(handle, CURLOPT_CAINFO, bundle))
                }
                options.append(acme_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(configuration.connectTimeout)))
                options.append(acme_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(configuration.requestTimeout)))
                options.append(acme_curl_setopt_string(handle, CURLOPT_USERAGENT, configuration.userAgent))
                options.append(acme_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
                options.append(acme_curl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION, Self.writeBody))
                options.append(acme_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque()))
                options.append(acme_curl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION, Self.writeHeader))
                options.append(acme_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context.toOpaque()))
                switch request.method {
                case .get:
                    options.append(acme_curl_setopt_long(handle, CURLOPT_HTTPGET, 1))
                case .head:
                    options.append(acme_curl_setopt_long(handle, CURLOPT_NOBODY, 1))
                case .post:
                    options.append(acme_curl_setopt_long(handle, CURLOPT_POST, 1))
                    options.append(acme_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
                    options.append(acme_curl_setopt_pointer(handle, CURLOPT_POSTFIELDS,
                                                            UnsafeMutableRawPointer(mutating: bodyPointer.baseAddress ?? UnsafePointer(bitPattern: 1)!)))
                }
                if let failed = options.first(where: { $0 != CURLE_OK }) { return failed }
                return curl_easy_perform(handle)
            }
        }
        guard code == CURLE_OK else {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw error(code, detail: detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail,
                        url: request.url, overflowed: exchange.overflowed)
        }
        var status = 0
        _ = acme_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: exchange.headers, body: exchange.body)
    }

    private static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    private static let writeBody: curl_write_callback = { data, size, count, context in
        let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        guard exchange.body.count + length <= exchange.limit else {
            exchange.overflowed = true
            return 0  // makes curl stop with CURLE_WRITE_ERROR
        }
        data?.withMemoryRebound(to: UInt8.self, capacity: length) {
            exchange.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
        }
        return length
    }

    private static let writeHeader: curl_write_callback = { data, size, count, context in
        let exchange = Unmanaged<Exchange>.fromOpaque(context!).takeUnretainedValue()
        let length = size * count
        guard let data else { return length }
        let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
        if line.hasPrefix("HTTP/") {
            exchange.headers.removeAll()  // a new response (after 100 Continue)
        } else if let colon = line.firstIndex(of: ":") {
            let name = String(line[..<colon])
            let value = String(line[line.index(after: colon)...].trimmed(of: " \t\r\n"))
            exchange.headers.append((name, value))
        }
        return length
    }

    private func error(_ code: CURLcode, detail: String, url: String, overflowed: Bool) -> HTTPError {
        let host = Self.hostPort(url)
        switch code {
        case CURLE_WRITE_ERROR where overflowed:
            return HTTPError(.tooLarge, url: url, "response from \(host) is larger than \(configuration.maxResponseBytes) bytes; refusing it")
        case CURLE_COULDNT_RESOLVE_HOST:
            return HTTPError(.connect, url: url, "cannot resolve \(host): \(detail); check the server URL and DNS")
        case CURLE_COULDNT_CONNECT:
            return HTTPError(.connect, url: url, "cannot connect to \(host): \(detail); check the server URL and that the CA is reachable")
        case CURLE_OPERATION_TIMEDOUT:
            return HTTPError(.timeout, url: url, "request to \(host) timed out: \(detail)")
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM:
            let hint = configuration.caBundle == nil
                ? "if the CA uses a private root (e.g. Pebble), give it as \(SettingName.caBundle)"
                : "check that \(SettingName.caBundle) \(configuration.caBundle!) holds the CA's root"
            return HTTPError(.tls, url: url, "TLS verification of \(host) failed: \(detail); \(hint)")
        default:
            return HTTPError(.other, url: url, "request to \(host) failed: \(detail)")
        }
    }

    /// `host:port` of a URL, for messages.
    static func hostPort(_ url: String) -> String {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        if authority.contains(":") && !authority.hasSuffix("]") { return String(authority) }
        return String(authority) + (url.hasPrefix("http://") ? ":80" : ":443")
    }
}
