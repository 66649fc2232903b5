import Base
import Glibc

/// The listening side the challenge responders share: binding one address or all of them
/// (dual-stack), with errors that name the port, the setting to fix and what else to do.
struct TCPListener {
    let address: String?
    let requestedPort: Int
    /// "the HTTP-01 responder"
    let purpose: String
    /// The address setting to fix when the address is not on this host.
    let addressSetting: SettingName
    /// What the user can do instead when the port is taken or privileged.
    let alternative: String

    init(address: String?, port: Int, purpose: String, addressSetting: SettingName, alternative: String) {
        self.address = address
        self.requestedPort = port
        self.purpose = purpose
        self.addressSetting = addressSetting
        self.alternative = alternative
    }

    /// Non-blocking, close-on-exec listening sockets: one for the given address, or one
    /// dual-stack IPv6 socket (IPv4 where IPv6 is off) for all addresses.
    /// Refuses an address that is neither IPv4 nor IPv6 before anything is contacted.
    static func validate(address: String, setting: SettingName) throws {
        var v4 = in_addr(), v6 = in6_addr()
        guard inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1 else {
            throw ChallengeError(.invalidSetting, "\(setting) \(address) is not an IPv4 or IPv6 address")
        }
    }

    func open() throws -> [Int32] {
        let shown = address ?? "all addresses"
        if let address {
            var v4 = in_addr(), v6 = in6_addr()
            if inet_pton(AF_INET, address, &v4) == 1 {
                return [try listen(family: AF_INET, address: shown) { fd in
                    var sa = sockaddr_in()
                    sa.sin_family = sa_family_t(AF_INET)
                    sa.sin_port = in_port_t(UInt16(truncatingIfNeeded: requestedPort).bigEndian)
                    sa.sin_addr = v4
                    return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                }]
            }
            if inet_pton(AF_INET6, address, &v6) == 1 {
                return [try listen(family: AF_INET6, address: shown) { fd in try bind6(fd, v6, v6only: true) }]
            }
            throw ChallengeError(.invalidSetting, "\(addressSetting) \(address) is not an IPv4 or IPv6 address")
        }
        // All addresses: one dual-stack IPv6 socket, or IPv4 where IPv6 is off.
        do {
            return [try listen(family: AF_INET6, address: shown) { fd in try bind6(fd, in6addr_any, v6only: false) }]
        } catch let error as SocketFamilyUnavailable {
            _ = error
            return [try listen(family: AF_INET, address: shown) { fd in
                var sa = sockaddr_in()
                sa.sin_family = sa_family_t(AF_INET)
                sa.sin_port = in_port_t(UInt16(truncatingIfNeeded: requestedPort).bigEndian)
                return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }]
        }
    }

    private struct SocketFamilyUnavailable: Error {}

    /// listen()'s backlog (the kernel caps it at net.core.somaxconn).
    static let acceptQueueLength: Int32 = 512

    private func bind6(_ fd: Int32, _ address: in6_addr, v6only: Bool) throws -> Int32 {
        var flag: Int32 = v6only ? 1 : 0
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &flag, socklen_t(MemoryLayout<Int32>.size))
        var sa = sockaddr_in6()
        sa.sin6_family = sa_family_t(AF_INET6)
        sa.sin6_port = in_port_t(UInt16(truncatingIfNeeded: requestedPort).bigEndian)
        sa.sin6_addr = address
        return withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }

    private func listen(family: Int32, address shown: String, bind: (Int32) throws -> Int32) throws -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 {
            if family == AF_INET6 && address == nil && (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT) { throw SocketFamilyUnavailable() }
            throw ChallengeError(.system, "cannot create a socket for \(purpose): \(String(cString: strerror(errno)))")
        }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if try bind(fd) != 0 {
            let code = errno
            close(fd)
            if family == AF_INET6 && address == nil && code == EADDRNOTAVAIL { throw SocketFamilyUnavailable() }
            throw bindError(code, shown)
        }
        // A long accept queue: when a flood of connections fills it, the kernel drops new SYNs
        // (the CA's among them) until the responder thread has accepted and refused the flood.
        guard Glibc.listen(fd, Self.acceptQueueLength) == 0 else {
            let code = errno
            close(fd)
            throw bindError(code, shown)
        }
        return fd
    }

    private func bindError(_ code: Int32, _ shown: String) -> ChallengeError {
        switch code {
        case EADDRINUSE:
            return ChallengeError(.portUnavailable, "port \(requestedPort) is already in use on \(shown); stop the server using it or \(alternative)")
        case EACCES:
            return ChallengeError(.portUnavailable, "permission denied binding port \(requestedPort) (ports below 1024 need root or CAP_NET_BIND_SERVICE); run as root or \(alternative)")
        case EADDRNOTAVAIL:
            return ChallengeError(.portUnavailable, "cannot bind port \(requestedPort) on \(shown): the address is not on this host; fix \(addressSetting)")
        default:
            return ChallengeError(.portUnavailable, "cannot bind port \(requestedPort) on \(shown): \(String(cString: strerror(code)))")
        }
    }

    /// The port a socket is bound to (useful with port 0).
    func boundPort(_ fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(fd, $0, &length) } }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            family == AF_INET
                ? pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
                : pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
        }
    }
}

/// Who a connection counts against: an IPv4 address (an IPv4-mapped IPv6 address counts as
/// the IPv4 address it carries), or the /64 of an IPv6 address, because one IPv6 host
/// usually holds a whole /64 and could otherwise multiply the per-address limit at will.
struct ClientAddress: Hashable {
    /// 4 bytes for IPv4, the first 8 bytes (the /64) for IPv6.
    let bytes: [UInt8]

    init?(_ storage: sockaddr_storage) {
        var storage = storage
        switch Int32(storage.ss_family) {
        case AF_INET:
            let address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr.s_addr } }
            bytes = withUnsafeBytes(of: address) { Array($0) }
        case AF_INET6:
            let address = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr } }
            let all = withUnsafeBytes(of: address) { Array($0) }
            let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
            bytes = Array(all.prefix(12)) == mapped ? Array(all.suffix(4)) : Array(all.prefix(8))
        default:
            return nil
        }
    }
}

/// The connection limits both responders apply, so that one client cannot take the slots the
/// CA's validation needs: at most `maxConnections` open at once, at most
/// `maxConnectionsPerAddress` of them from one `ClientAddress`, and each one closed when it has
/// not delivered its request (HTTP-01) or finished its handshake (TLS-ALPN-01) within
/// `deadlineMilliseconds` of being accepted.
struct ConnectionLimits {
    var maxConnections: Int
    var maxConnectionsPerAddress: Int
    var deadlineMilliseconds: Int
}

/// Accepts connections and admits them against `ConnectionLimits`; the responder thread's own.
///
/// A connection over the per-address limit while there is room in all is parked, not reset:
/// accepted but not read, admitted in arrival order as its address's connections close, and
/// reset if still parked after `deadlineMilliseconds`. A CA validating many names from one
/// address opens more connections at once than the limit (Pebble: three per name); a flooder
/// gains nothing, as parked connections take no slot and at most `maxConnections` are parked.
struct ConnectionGate {
    let limits: ConnectionLimits
    private(set) var open = 0
    private var perAddress: [ClientAddress: Int] = [:]
    private var parked: [(fd: Int32, client: ClientAddress, since: Int)] = []

    init(limits: ConnectionLimits) { self.limits = limits }

    /// The next pending connection on a non-blocking listening socket, already admitted
    /// (counted until `release`), non-blocking and close-on-exec; nil when none is pending.
    /// Connections over the limit in all are closed at once, unread, with a reset; those over
    /// their address's limit are parked (see above).
    mutating func accept(on listener: Int32) -> (fd: Int32, client: ClientAddress)? {
        while true {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            // accept4 is not visible from Swift (it needs _GNU_SOURCE): the flags are set after.
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener, $0, &length) }
            }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return nil
            }
            guard let client = ClientAddress(storage), open < limits.maxConnections else {
                Self.reset(fd)
                continue
            }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            guard perAddress[client, default: 0] < limits.maxConnectionsPerAddress else {
                if parked.count < limits.maxConnections { parked.append((fd, client, Self.now())) } else { Self.reset(fd) }
                continue
            }
            open += 1
            perAddress[client, default: 0] += 1
            return (fd, client)
        }
    }

    /// The parked connections whose address is under its limit again, now admitted (counted
    /// until `release`); those parked longer than the deadline are reset.
    mutating func admitParked() -> [(fd: Int32, client: ClientAddress)] {
        guard !parked.isEmpty else { return [] }
        let now = Self.now()
        var admitted: [(fd: Int32, client: ClientAddress)] = []
        var still: [(fd: Int32, client: ClientAddress, since: Int)] = []
        for connection in parked {
            if now - connection.since >= limits.deadlineMilliseconds {
                Self.reset(connection.fd)
            } else if open < limits.maxConnections, perAddress[connection.client, default: 0] < limits.maxConnectionsPerAddress {
                open += 1
                perAddress[connection.client, default: 0] += 1
                admitted.append((connection.fd, connection.client))
            } else {
                still.append(connection)
            }
        }
        parked = still
        return admitted
    }

    /// Resets every parked connection (the responder stops).
    mutating func closeParked() {
        parked.forEach { Self.reset($0.fd) }
        parked.removeAll()
    }

    /// The connection from `client` is closed.
    mutating func release(_ client: ClientAddress) {
        open -= 1
        let left = perAddress[client, default: 1] - 1
        perAddress[client] = left > 0 ? left : nil
    }

    /// Closes with a reset (SO_LINGER 0): no FIN exchange and no TIME_WAIT left behind for a
    /// connection that was refused.
    static func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    /// Milliseconds on a monotonic clock.
    static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
    }
}
