/// The one table of the services `acme` talks to: URL scheme, default port and the dialog
/// before TLS. `Endpoint` parses with it, `ServedCheck` lists the mail ports from it and
/// `acme tlsa --check` names a TLSA record's port with it.
public struct EndpointScheme: Sendable {
    public let name: String
    public let port: Int
    /// nil: TLS from the first byte.
    public let startTLS: Endpoint.StartTLS?

    /// In the order the mail endpoints are checked; https last (not a mail service).
    public static let all: [EndpointScheme] = [
        EndpointScheme(name: "smtp", port: 25, startTLS: .smtp),
        EndpointScheme(name: "submission", port: 587, startTLS: .smtp),
        EndpointScheme(name: "smtps", port: 465, startTLS: nil),
        EndpointScheme(name: "imap", port: 143, startTLS: .imap),
        EndpointScheme(name: "imaps", port: 993, startTLS: nil),
        EndpointScheme(name: "pop3", port: 110, startTLS: .pop3),
        EndpointScheme(name: "pop3s", port: 995, startTLS: nil),
        EndpointScheme(name: "https", port: 443, startTLS: nil),
    ]

    /// The mail services (every scheme but https).
    public static var mail: [EndpointScheme] { all.filter { $0.name != "https" } }

    public static func named(_ name: String) -> EndpointScheme? { all.first { $0.name == name } }

    /// The scheme whose default port is `port`, if any.
    public static func serving(port: Int) -> EndpointScheme? { all.first { $0.port == port } }
}
