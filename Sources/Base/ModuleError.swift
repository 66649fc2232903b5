/// What kind of failure an error is. The CLI turns the category into the exit code that
/// Docs/CLI.md documents, in one place; library code never picks exit codes.
public enum ErrorCategory: String, Sendable, CaseIterable {
    /// The command line or its input is wrong: a name, a flag value, a missing option.
    case usage
    /// Something on this machine: a file, a directory, a port, a key, a hook.
    case localState
    /// A peer could not be reached or talked to: connection, DNS, TLS, timeouts.
    case network
    /// The CA refused a request or answered something that is not usable ACME.
    case caRefused
    /// A validation failed: the CA's challenge validation, or a certificate a server presents.
    case validationFailed
}

/// A module-specific error code: a stable name (`store.unreadable`) and its category.
/// `Domain` is the module's error type, so each module has its own set of static members
/// (`CertStoreError.Code.unreadable`), as in swift-certificates' `CertificateError.ErrorCode`.
public struct ErrorCode<Domain>: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let category: ErrorCategory

    public init(_ name: String, _ category: ErrorCategory) {
        self.name = name
        self.category = category
    }

    public var description: String { name }
}

/// The shape of every module's error: a code for callers and tests, and one line for people
/// that names the file, URL or name involved and what to do.
public protocol CodedError: Error, CustomStringConvertible, Sendable {
    var category: ErrorCategory { get }
    /// The code's name, e.g. `store.unreadable`.
    var codeName: String { get }
    var message: String { get }
}

extension CodedError {
    public var description: String { message }
}

/// A module's error: `ModuleError<CertStoreModule>` is CertStore's `CertStoreError`, with its own
/// codes as static members of `CertStoreError.Code`.
public struct ModuleError<Module>: CodedError {
    public typealias Code = ErrorCode<ModuleError<Module>>
    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var category: ErrorCategory { code.category }
    public var codeName: String { code.name }
}

/// The base module's own failures (file system, names, locks).
public typealias BaseError = ModuleError<BaseModule>
public enum BaseModule {}

extension ErrorCode where Domain == BaseError {
    /// A name that would become a path component is not a plain name.
    public static var invalidName: Self { Self("base.invalidName", .usage) }
    /// A file or directory cannot be read, or is not what it must be.
    public static var unreadable: Self { Self("base.unreadable", .localState) }
    /// A file or directory cannot be written, created or removed.
    public static var unwritable: Self { Self("base.unwritable", .localState) }
    /// A directory that must exist does not.
    public static var missing: Self { Self("base.missing", .localState) }
    /// A path in a managed tree is a link or another kind of file where a directory must be.
    public static var unsafePath: Self { Self("base.unsafePath", .localState) }
    /// A lock cannot be taken.
    public static var locked: Self { Self("base.locked", .localState) }
}
