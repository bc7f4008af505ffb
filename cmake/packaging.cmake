# Install layout and the Debian package (`cpack -G DEB` in the build directory; README.md,
# "Packaged"). The package holds the binary, the systemd unit, the configuration as a conffile
# and the docs; its maintainer scripts create the system user and reload systemd.
install(TARGETS eventstreams RUNTIME DESTINATION bin)
# Absolute: /etc whatever the prefix (/usr in the package).
install(FILES ${PROJECT_SOURCE_DIR}/config/eventstreams.yaml DESTINATION /etc/eventstreams)
install(FILES ${PROJECT_SOURCE_DIR}/config/systemd/eventstreams.service
        DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/api.md
              ${PROJECT_SOURCE_DIR}/LICENSE
        DESTINATION share/doc/eventstreams)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME eventstreams)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Kafka topics as Server-Sent Events (the EventStreams API)")
set(CPACK_PACKAGE_CONTACT "eventstreams maintainers <maintainers@eventstreams.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The run-time libraries, from the binary's dependencies (dpkg-shlibdeps); adduser for postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm ${PROJECT_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)
