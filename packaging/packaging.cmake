# What `cmake --install` lays out besides the binaries, units and docs (their own directories
# install those), and the Debian package CPack builds from it (script/package).
#
# The package: /usr/sbin/backyd, /usr/bin/backyctl, units, tmpfiles.d and sysusers.d entries,
# /etc/backy.yaml (a conffile), the example snapshot hooks (/usr/lib/backyd/hooks), bash
# completion, man pages, docs. Dependencies come from dpkg-shlibdeps. The maintainer scripts
# (packaging/deb/) create the group and directories, enable and start the socket and the
# service, stop them on removal; purge removes the configuration but never a backup under
# base-dir.
install(FILES ${PROJECT_SOURCE_DIR}/config/backy.yaml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR})
# The example snapshot hooks (docs/operations.md, "Consistency"): programs, not configuration.
install(PROGRAMS ${PROJECT_SOURCE_DIR}/config/hooks/libvirt-freeze
                 ${PROJECT_SOURCE_DIR}/config/hooks/libvirt-thaw DESTINATION lib/backyd/hooks)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})

# Debian wants the changelog gzipped without name or time stamp.
set(BACKY_CHANGELOG_GZ ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
add_custom_command(
  OUTPUT ${BACKY_CHANGELOG_GZ}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/packaging
  COMMAND sh -c "gzip -9n < '${CMAKE_CURRENT_LIST_DIR}/changelog' > '${BACKY_CHANGELOG_GZ}'"
  DEPENDS ${CMAKE_CURRENT_LIST_DIR}/changelog
  VERBATIM)
add_custom_target(changelog ALL DEPENDS ${BACKY_CHANGELOG_GZ})
install(FILES ${BACKY_CHANGELOG_GZ} DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME backyd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(BACKY_MAINTAINER "backyd maintainers <backyd@users.noreply.github.com>"
    CACHE STRING "the package's Maintainer: field")
set(CPACK_PACKAGE_CONTACT "${BACKY_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "block-level backup daemon for VM disks (Ceph RBD, image files)")
# Debian wants description lines of at most 80 characters.
set(CPACK_PACKAGE_DESCRIPTION
    "backyd backs up virtual machine disks, Ceph RBD images or plain image files\n\
and block devices, on a schedule. Each revision is a raw image on a reflink\n\
filesystem (XFS, btrfs) sharing unchanged extents with its parent, so an\n\
incremental costs what changed and a restore needs nothing but dd. backyctl\n\
talks to the daemon: status, health for monitoring, metrics, run now, restore.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE ${PROJECT_HOMEPAGE_URL})
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# systemd-sysusers and systemd-tmpfiles run from postinst; the units need systemd anyway.
# fdisk: sfdisk reads partition tables for `mount`; qemu-utils: `clone --qcow2`, `export`
# (qemu-nbd).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd, fdisk")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qemu-utils")
# libvirt-clients: virsh, for the example snapshot hooks.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "xfsprogs, ceph-common, libvirt-clients")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/deb/conffiles ${CMAKE_CURRENT_LIST_DIR}/deb/postinst
    ${CMAKE_CURRENT_LIST_DIR}/deb/prerm ${CMAKE_CURRENT_LIST_DIR}/deb/postrm)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR OFF)
set(CPACK_OUTPUT_FILE_PREFIX ${PROJECT_BINARY_DIR}/package)
# Only what `cmake --install` lays out: no source tree.
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
