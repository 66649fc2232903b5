import Base

public typealias DaemonError = ModuleError<DaemonModule>
public enum DaemonModule {}

extension ErrorCode where Domain == DaemonError {
    /// The status file is missing or unreadable: no daemon has written it (yet), or it is broken.
    public static var noStatus: Self { Self("daemon.noStatus", .localState) }
    /// `acme status`: the daemon reports a problem, or has not written its status for too long.
    public static var unhealthy: Self { Self("daemon.unhealthy", .validationFailed) }
    /// After an install an endpoint did not serve the new certificate (rolled back when possible).
    public static var notServed: Self { Self("daemon.notServed", .validationFailed) }
    /// Another acme daemon runs on the same config directory.
    public static var alreadyRunning: Self { Self("daemon.alreadyRunning", .localState) }
    /// An --env-file line that is not KEY=VALUE.
    public static var invalidEnvFile: Self { Self("daemon.invalidEnvFile", .usage) }
    /// An --env-file that is missing or cannot be read.
    public static var unreadableEnvFile: Self { Self("daemon.unreadableEnvFile", .localState) }
}
