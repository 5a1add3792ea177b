# The model readers a device can afford (no libprotobuf), added to modelcast_format, which
# the fetcher links: the reader table (device_readers.cc), the TFLite FlatBuffer reader,
# the wire-format readers of TensorFlow GraphDef/SavedModel and Core ML, and the
# config-fits-model check. Included by manifests/CMakeLists.txt, so nothing here may pull
# in ONNX, protobuf or libgit2.

# The TFLite schema is not packaged by Debian; the C++ accessors are generated from our
# own copy of its subset at build time.
if(TARGET flatbuffers::flatc)
  set(MODELCAST_FLATC flatbuffers::flatc)
else()
  find_program(MODELCAST_FLATC flatc REQUIRED)
endif()

set(MODELCAST_TFLITE_SCHEMA ${CMAKE_CURRENT_LIST_DIR}/schema/tflite/schema.fbs)
set(MODELCAST_GENERATED_DIR ${CMAKE_CURRENT_BINARY_DIR}/generated)
set(MODELCAST_TFLITE_HEADER ${MODELCAST_GENERATED_DIR}/tflite/schema_generated.h)
add_custom_command(
  OUTPUT ${MODELCAST_TFLITE_HEADER}
  COMMAND ${MODELCAST_FLATC} --cpp -o ${MODELCAST_GENERATED_DIR}/tflite ${MODELCAST_TFLITE_SCHEMA}
  DEPENDS ${MODELCAST_TFLITE_SCHEMA}
  COMMENT "Generating the TFLite schema reader with flatc"
  VERBATIM)
add_custom_target(modelcast_tflite_schema DEPENDS ${MODELCAST_TFLITE_HEADER})

target_sources(modelcast_format PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/device_readers.cc
  ${CMAKE_CURRENT_LIST_DIR}/tflite_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/tensorflow_types.cc
  ${CMAKE_CURRENT_LIST_DIR}/graphdef_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/savedmodel_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/mlmodel_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/mlpackage_reader.cc
  ${CMAKE_CURRENT_LIST_DIR}/model_info.cc
  ${MODELCAST_TFLITE_HEADER})
# model_readers.h is for this build's own code (fetcher, publisher), not an installed header.
target_include_directories(modelcast_format PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}/include>)
add_dependencies(modelcast_format modelcast_tflite_schema)
# The generated header is private: only tflite_reader.cc sees the schema.
target_include_directories(modelcast_format PRIVATE ${MODELCAST_GENERATED_DIR})
# FlatBuffers' accessors are header-only: take its headers, not its library, so nothing
# that links the format (an installed package included) needs libflatbuffers.
target_include_directories(modelcast_format PRIVATE $<TARGET_PROPERTY:flatbuffers::flatbuffers,INTERFACE_INCLUDE_DIRECTORIES>)
