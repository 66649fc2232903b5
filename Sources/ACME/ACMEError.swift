import Base

/// The one error type of the ACME module: a code for callers that branch on it and
/// a one-line message for the user that names the URL, identifier or problem involved.
public struct ACMEError: CodedError {
    public typealias Code = ErrorCode<ACMEError>

    public var code: Code
    public var message: String
    /// The problem document, when the server sent one.
    public var problem: Problem?

    public init(_ code: Code, _ message: String, problem: Problem? = nil) {
        self.code = code
        self.message = message
        self.problem = problem
    }

    public var category: ErrorCategory { code.category }
    public var codeName: String { code.name }
}

extension ErrorCode where Domain == ACMEError {
    /// The server answered with an RFC 7807 problem document.
    public static var problem: Self { Self("acme.problem", .caRefused) }
    /// The server's answer does not follow RFC 8555.
    public static var malformedResponse: Self { Self("acme.malformedResponse", .caRefused) }
    /// Something the user must change (an http:// directory URL, a resource this CA lacks...).
    public static var usage: Self { Self("acme.usage", .usage) }
    /// A directory URL that is not https://.
    public static var insecureServer: Self { Self("acme.insecureServer", .usage) }
    /// A challenge or order ended invalid.
    public static var validationFailed: Self { Self("acme.validationFailed", .validationFailed) }
    /// Waited as long as we are willing to.
    public static var timeout: Self { Self("acme.timeout", .caRefused) }
    /// The CA answered 500, 502, 503 or 504 (maintenance, an overloaded or failing server)
    /// every time we asked within the bounds: it could not be used now, it did not refuse.
    public static var unavailable: Self { Self("acme.unavailable", .network) }
    /// The server asked us to slow down for longer than we wait.
    public static var rateLimited: Self { Self("acme.rateLimited", .caRefused) }
}
