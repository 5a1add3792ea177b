# Model inspection for the publisher: ONNX through libonnx's generated protobuf classes,
# TFLite through the shared reader in modelcast_format, and the two CLI commands built on
# them (`modelcast config init`, `modelcast inspect`). Included by publisher/CMakeLists.txt.
add_library(modelcast_model_inspect STATIC
  ${CMAKE_CURRENT_LIST_DIR}/onnx_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_inspect.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_commands.cc
)
target_include_directories(modelcast_model_inspect PUBLIC ${CMAKE_CURRENT_LIST_DIR})
# onnx_proto carries ONNX_ML=1 and ONNX_NAMESPACE=onnx, which select onnx-ml.pb.h: the
# variant Debian's libonnx was built with.
target_link_libraries(modelcast_model_inspect
  PUBLIC modelcast_format
  PRIVATE onnx_proto protobuf::libprotobuf)
