# The model readers only the publisher links, because they need libprotobuf (ONNX through
# libonnx's generated classes), their table (publisher_readers.cc) and the dispatch that
# inspect, config init, the publish-time fit check and the delta planner share
# (model_inspect.h). Included by publisher/CMakeLists.txt, where ONNX and protobuf are found.
add_library(modelcast_protobuf_model_readers STATIC
  ${CMAKE_CURRENT_LIST_DIR}/onnx_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/publisher_readers.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_inspect.cc
)
target_include_directories(modelcast_protobuf_model_readers PUBLIC ${CMAKE_CURRENT_LIST_DIR})
# onnx_proto carries ONNX_ML=1 and ONNX_NAMESPACE=onnx, which select onnx-ml.pb.h: the
# variant Debian's libonnx was built with.
target_link_libraries(modelcast_protobuf_model_readers
  PUBLIC modelcast_format
  PRIVATE onnx_proto protobuf::libprotobuf)
