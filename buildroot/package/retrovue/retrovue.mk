################################################################################
#
# retrovue
#
################################################################################

# Built from the repository this external tree lives in. A local package has no
# download step, so Buildroot's crate vendoring never runs: scripts/vendor-crates.sh
# fills vendor/ and .cargo/config.toml beforehand, and cargo builds --offline.
RETROVUE_VERSION = $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(BR2_EXTERNAL_RETROVUE_PATH)/../Cargo.toml | head -n 1)
RETROVUE_SITE = $(BR2_EXTERNAL_RETROVUE_PATH)/..
RETROVUE_SITE_METHOD = local
RETROVUE_LICENSE = GPL-3.0+
RETROVUE_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude /target --exclude /buildroot --exclude /output \
	--exclude /data --exclude /dl --exclude /.ci
RETROVUE_DEPENDENCIES = gstreamer1 gst1-plugins-base sqlite host-pkgconf
RETROVUE_CARGO_ENV = PKG_CONFIG_ALLOW_CROSS=1

define RETROVUE_CHECK_VENDORED_CRATES
	@test -f $(@D)/vendor/.retrovue-vendored -a -f $(@D)/.cargo/config.toml || { \
		echo "retrovue: crates are not vendored; run scripts/vendor-crates.sh first"; \
		exit 1; }
endef
RETROVUE_POST_RSYNC_HOOKS += RETROVUE_CHECK_VENDORED_CRATES

define RETROVUE_USERS
	retrovue -1 retrovue -1 * /var/lib/retrovue - video,render Retrovue daemon
endef

define RETROVUE_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(@D)/systemd/retrovue.service \
		$(TARGET_DIR)/usr/lib/systemd/system/retrovue.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/retrovue-grow-data.service \
		$(TARGET_DIR)/usr/lib/systemd/system/retrovue-grow-data.service
	$(INSTALL) -D -m 0644 $(@D)/systemd/retrovue-machine-id.service \
		$(TARGET_DIR)/usr/lib/systemd/system/retrovue-machine-id.service
	$(INSTALL) -D -m 0755 $(@D)/systemd/retrovue-grow-data.sh \
		$(TARGET_DIR)/usr/libexec/retrovue/grow-data
	$(INSTALL) -D -m 0755 $(@D)/systemd/retrovue-machine-id.sh \
		$(TARGET_DIR)/usr/libexec/retrovue/machine-id
endef

$(eval $(cargo-package))
