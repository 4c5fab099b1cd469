include $(sort $(wildcard $(BR2_EXTERNAL_RETROVUE_PATH)/package/*/*.mk))
