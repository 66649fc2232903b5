import ACMEHTTP
import Base

/// How to reach a CA: its directory URL and, for a private CA, the PEM bundle to trust
/// instead of the system store.
public struct CAServer: Sendable, Hashable {
    public var directoryURL: String
    public var caBundle: String?

    public init(directoryURL: String, caBundle: String? = nil) {
        self.directoryURL = directoryURL
        self.caBundle = caBundle
    }
}

/// Makes the one client a run uses per CA (the CLI decides user agent and verbosity).
public typealias ACMEClientFactory = @Sendable (CAServer) throws -> ACMEClient

extension ACMEClient {
    /// A client for `server` over the transport `makeTransport` builds for it (the CLI gives one
    /// reused libcurl handle with the CA bundle loaded once; tests a scripted server).
    /// RFC 8555 §6.1: ACME runs over HTTPS only, and the server is always verified.
    public static func connect(_ server: CAServer, transport makeTransport: (CAServer) throws -> any HTTPTransport,
                               verbose: (EventSink)? = nil) throws -> ACMEClient {
        guard server.directoryURL.hasPrefix("https://") else {
            throw ACMEError(.insecureServer, "\(server.directoryURL) is not an https:// URL; ACME requires HTTPS: set \(SettingName.acmeServerURL) to the CA's https:// directory URL (or server = in the renewal conf)")
        }
        return ACMEClient(directoryURL: server.directoryURL, transport: try makeTransport(server), verbose: verbose)
    }
}
