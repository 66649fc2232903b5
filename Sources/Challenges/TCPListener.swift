import Glibc

/// The listening side the challenge responders share: binding one address or all of them
/// (dual-stack), with errors that name the port, the flag to fix and what else to do.
struct TCPListener {
    let address: String?
    let requestedPort: Int
    /// "the HTTP-01 responder"
    let purpose: String
    /// "--http-01-address"
    let addressFlag: String
    /// What the user can do instead when the port is taken or privileged.
    let alternative: String

    init(address: String?, port: Int, purpose: String, addressFlag: String, alternative: String) {
        self.address = address
        self.requestedPort = port
        self.purpose = purpose
        self.addressFlag = addressFlag
        self.alternative = alternative
    }

    /// Non-blocking, close-on-exec listening sockets: one for the given address, or one
    /// dual-stack IPv6 socket (IPv4 where IPv6 is off) for all addresses.
    /// Refuses an address that is neither IPv4 nor IPv6 before anything is contacted.
    static func validate(address: String, flag: String) throws {
        var v4 = in_addr(), v6 = in6_addr()
        guard inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1 else {
            throw ChallengeError(.invalidSetting, "\(flag) \(address) is not an IPv4 or IPv6 address")
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
            throw ChallengeError(.invalidSetting, "\(addressFlag) \(address) is not an IPv4 or IPv6 address")
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
        guard Glibc.listen(fd, 64) == 0 else {
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
            return ChallengeError(.portUnavailable, "cannot bind port \(requestedPort) on \(shown): the address is not on this host; fix \(addressFlag)")
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
