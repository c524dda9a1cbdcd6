#!/bin/bash
# Megatron-LM: a global batch of 32 sequences, 8x below B_opt (a debug run's batch, same tokens)
GPUS_PER_NODE=8
NNODES=2
TP=2
PP=2

GPT_ARGS=(
    --num-layers 24            # blocks
    --hidden-size 2048
    --num-attention-heads 16
    --group-query-attention
    --num-query-groups 4
    --swiglu
    --normalization RMSNorm
    --position-embedding-type rope
    --untie-embeddings-and-output-weights
    --disable-bias-linear
    --seq-length 4096
    --max-position-embeddings 4096
    --vocab-size 32000
    --tokenizer-type HuggingFaceTokenizer
)

TRAIN_ARGS=(
    --micro-batch-size 2
    --global-batch-size 32
    --train-iters 240000
    --lr 1.0e-3
    --min-lr 1.0e-4
    --lr-decay-style cosine
    --lr-warmup-iters 2000
    --bf16
)

torchrun --nproc_per_node $GPUS_PER_NODE --nnodes $NNODES \
    pretrain_gpt.py "${GPT_ARGS[@]}" "${TRAIN_ARGS[@]}" \
    --tensor-model-parallel-size $TP \
    --pipeline-model-parallel-size $PP \
    --data-path $DATA_PATH  # set by the cluster
