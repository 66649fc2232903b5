// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "acme",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "acme", targets: ["acme"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // System libraries: module map + shim header, nothing else.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl@3"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),

        // renameat2(RENAME_EXCHANGE) and fcntl locks, which Swift cannot call directly.
        .target(name: "CSystem"),
        // Every OpenSSL call: keys, PEM, JWK, thumbprint, JWS, CSR, X.509.
        .target(name: "ACMECrypto", dependencies: ["COpenSSL"]),
        // Every libcurl call: one reused handle, CA bundle, timeouts, size caps.
        .target(name: "ACMEHTTP", dependencies: ["CCurl"]),
        // HTTP-01 responder, webroot, TLS-ALPN-01 responder, DNS TXT lookup: answering challenges.
        .target(name: "Challenges", dependencies: ["ACMECrypto"]),
        // certbot-compatible /etc/letsencrypt layout.
        .target(name: "CertStore", dependencies: ["CSystem"]),
        // RFC 8555 protocol over an abstract transport.
        .target(name: "ACME", dependencies: ["ACMECrypto", "ACMEHTTP"]),
        // Find, check and install certificates for Postfix and Dovecot.
        .target(name: "Provision", dependencies: ["ACMECrypto", "CertStore"]),
        // Obtain a certificate: account + order + solvers + storage.
        .target(name: "Issuance", dependencies: ["ACME", "ACMECrypto", "ACMEHTTP", "Challenges", "CertStore"]),
        // Which lineages are due (ARI, windows), hooks; renews through Issuance.
        .target(name: "Renewal", dependencies: ["ACME", "ACMECrypto", "CertStore", "Issuance"]),
        // acme check: STARTTLS dialogs and TLS verification of mail endpoints.
        .target(name: "Check", dependencies: ["ACMECrypto"]),
        // The command line.
        .executableTarget(
            name: "acme",
            dependencies: [
                "Issuance", "Renewal", "Check", "ACME", "ACMECrypto", "ACMEHTTP", "CertStore", "Challenges", "Provision",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "ACMECryptoTests", dependencies: ["ACMECrypto"]),
        .testTarget(name: "ACMEHTTPTests", dependencies: ["ACMEHTTP"]),
        .testTarget(name: "ChallengesTests", dependencies: ["Challenges"]),
        .testTarget(name: "CertStoreTests", dependencies: ["CertStore"]),
        .testTarget(name: "ACMETests", dependencies: ["ACME", "ACMECrypto", "ACMEHTTP"]),
        .testTarget(name: "RenewalTests", dependencies: ["Renewal", "ACME", "Issuance"]),
        .testTarget(name: "CheckTests", dependencies: ["Check"]),
        .testTarget(name: "ProvisionTests", dependencies: ["Provision", "ACMECrypto"]),
        .testTarget(name: "IntegrationTests", dependencies: ["ACMECrypto", "CertStore"]),
    ]
)
